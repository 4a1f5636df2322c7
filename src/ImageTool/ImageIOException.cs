namespace ImageTool;

/// <summary>
/// A read or write request failed the way qemu's block layer fails with an errno (e.g. "Input/output error" once
/// the image was marked corrupt). Commands word it as qemu-img does ("error while writing at byte N: ...").
/// </summary>
public sealed class ImageIOException : ImageFormatException
{
    public ImageIOException(long offset, string message) : base(message) => Offset = offset;

    /// <summary>The failure of a request at <paramref name="offset"/> caused by <paramref name="reason"/>: qemu's EIO.</summary>
    public ImageIOException(long offset, Exception reason) : base("Input/output error", reason) => Offset = offset;

    public ImageIOException() { }

    public ImageIOException(string message) : base(message) { }

    public ImageIOException(string message, Exception inner) : base(message, inner) { }

    /// <summary>Guest offset of the failed request.</summary>
    public long Offset { get; }
}
