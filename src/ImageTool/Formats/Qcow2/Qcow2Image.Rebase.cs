namespace ImageTool.Formats.Qcow2;

/// <summary>img rebase for qcow2: the header's backing file name and format extension are rewritten.</summary>
internal sealed partial class Qcow2Image : IBackingFileChanger
{
    public void ChangeBackingFile(string? fileName, string? format)
    {
        lock (_lock)
        {
            WriteBackMetadata();
            _header.BackingFile = string.IsNullOrEmpty(fileName) ? null : fileName;
            _header.BackingFormat = _header.BackingFile == null ? null : format;
            WriteHeader();
        }
    }
}
