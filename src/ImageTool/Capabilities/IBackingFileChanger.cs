namespace ImageTool.Capabilities;

/// <summary>An image whose header names a backing file that can be rewritten (<c>img rebase</c>, <c>amend -o backing_file</c>).</summary>
public interface IBackingFileChanger
{
    /// <summary>Stores a new backing file name and format in the header (null detaches). Data is not touched.</summary>
    void ChangeBackingFile(string? fileName, string? format);
}
