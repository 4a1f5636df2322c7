using ImageTool.Options;

namespace ImageTool.Capabilities;

/// <summary>An image whose creation options can be changed in place (<c>img amend</c>).</summary>
public interface IAmendable
{
    /// <summary>
    /// Applies already validated options (names from the format's amend schema). Everything is checked before
    /// anything is written, so a refused amendment leaves the image as it was (except where qemu refuses a
    /// later step only after earlier ones were done). <paramref name="status"/> receives (work done, total work).
    /// </summary>
    void Amend(ImageOptions options, bool force, Action<long, long>? status = null);
}
