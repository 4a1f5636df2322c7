namespace ImageTool.Protocols;

/// <summary>
/// Bytes a protocol client serves by offset, behind a <see cref="IO.HostFile"/> that is not a local file
/// (qemu's protocol layer: http/https here; an NBD client fits the same seam). Formats keep reading through
/// HostFile and never see the difference.
/// </summary>
internal interface IByteSource : IDisposable
{
    long Length { get; }

    /// <summary>Reads up to buffer.Length bytes at offset: fewer only at the end. Safe to call from many threads.</summary>
    /// <exception cref="IOException">The transfer failed; the message says why.</exception>
    int Read(long offset, Span<byte> buffer);
}
