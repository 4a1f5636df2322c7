namespace ImageTool.Capabilities;

/// <summary>An image whose virtual size can change (<c>img resize</c>). Formats without it refuse as qemu does.</summary>
public interface IResizable
{
    /// <summary>
    /// Sets the virtual size. Growing adds zeros (allocated per <paramref name="preallocation"/>: off, metadata,
    /// falloc, full); shrinking drops everything past the new end. Checks common to all formats are done by the caller.
    /// </summary>
    void Resize(long size, string preallocation);
}
