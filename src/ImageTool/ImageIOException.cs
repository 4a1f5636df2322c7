namespace ImageTool;

/// <summary>
/// A read or write request failed the way qemu's block layer fails with an errno (e.g. "Input/output error" once
/// the image was marked corrupt). Commands word it as qemu-img does ("error while writing at byte N: ...").
/// </summary>
public sealed class ImageIOException : ImageFormatException
{
    /// <summary>The failure of a request at <paramref name="offset"/>, worded by <paramref name="message"/>.</summary>
    /// <param name="offset">Guest offset of the failed request.</param>
    /// <param name="message">The errno text, as qemu words it (e.g. "Input/output error").</param>
    public ImageIOException(long offset, string message) : base(ImageErrorKind.IO, message) => Offset = offset;

    /// <summary>The failure of a request at <paramref name="offset"/> caused by <paramref name="reason"/>: qemu's EIO.</summary>
    /// <param name="offset">Guest offset of the failed request.</param>
    /// <param name="reason">What made the request fail.</param>
    public ImageIOException(long offset, Exception reason) : base(ImageErrorKind.IO, "Input/output error", reason) => Offset = offset;

    /// <summary>An I/O failure with qemu's EIO text.</summary>
    public ImageIOException() : base(ImageErrorKind.IO, "Input/output error") { }

    /// <summary>An I/O failure worded by <paramref name="message"/>.</summary>
    /// <param name="message">The message, as qemu words it.</param>
    public ImageIOException(string message) : base(ImageErrorKind.IO, message) { }

    /// <summary>An I/O failure worded by <paramref name="message"/>, caused by <paramref name="inner"/>.</summary>
    /// <param name="message">The message, as qemu words it.</param>
    /// <param name="inner">The cause.</param>
    public ImageIOException(string message, Exception inner) : base(ImageErrorKind.IO, message, inner) { }

    /// <summary>Guest offset of the failed request.</summary>
    public long Offset { get; }
}
