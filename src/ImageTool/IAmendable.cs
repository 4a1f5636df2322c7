using ImageTool.Options;

namespace ImageTool;

/// <summary>An image whose creation options can be changed in place (<c>img amend</c>).</summary>
public interface IAmendable
{
    /// <summary>
    /// Applies already validated options (names from the format's amend schema). Everything is checked before
    /// anything is written, so a refused amendment leaves the image as it was.
    /// </summary>
    void Amend(ImageOptions options, bool force);
}
