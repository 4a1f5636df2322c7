using ImageTool.IO;

namespace ImageTool.Protocols;

/// <summary>
/// A read-only protocol client (<see cref="IByteSource"/>: http, https, ftp, ftps) seen through the one network
/// seam of <see cref="HostFile"/>: writes fail as qemu's read-only nodes do, and everything reads as data.
/// </summary>
internal sealed class ReadOnlyRemoteFile(string name, IByteSource source) : IRemoteFile
{
    public string Name => name;

    public long Length => source.Length;

    public bool IsReadOnly => true;

    public void Read(long offset, Span<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = source.Read(offset + done, buffer[done..]);
            if (n == 0) throw new IOException("Input/output error");
            done += n;
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer) => throw new IOException("Block node is read-only");

    public void Flush() { }

    public bool PunchHole(long offset, long length) => false;

    public long? NextData(long offset) => offset < Length ? offset : null;

    public long NextHole(long offset) => Length;

    public void Dispose() => source.Dispose();
}
