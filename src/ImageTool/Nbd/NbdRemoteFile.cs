using ImageTool.IO;

namespace ImageTool.Nbd;

/// <summary>An NBD export as an image's container: reads, writes, trims and base:allocation for SEEK_DATA/SEEK_HOLE.</summary>
internal sealed class NbdRemoteFile(NbdAddress address, NbdClient client, bool readOnly) : IRemoteFile
{
    /// <summary>
    /// How long any wait on the server may last (connect, handshake, each request): IMG_NBD_TIMEOUT seconds,
    /// default 30. qemu waits for ever; a hung server should not hang img.
    /// </summary>
    public static TimeSpan Timeout
    {
        get
        {
            string? text = Environment.GetEnvironmentVariable("IMG_NBD_TIMEOUT");
            return double.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out double s) && s > 0
                ? TimeSpan.FromSeconds(s) : TimeSpan.FromSeconds(30);
        }
    }

    public static NbdRemoteFile Open(NbdAddress address, bool readOnly, NbdClientTls? tls = null)
    {
        var client = NbdClient.Connect(address, Timeout, tls);
        if (!readOnly && client.IsReadOnly)
        {
            client.Dispose();
            throw new ImageFormatException("Read-only NBD export cannot be opened for writing: Operation not permitted");
        }
        return new NbdRemoteFile(address, client, readOnly);
    }

    public NbdClient Client => client;

    public string Name => address.ToString();

    public long Length => client.Size;

    public bool IsReadOnly => readOnly;

    public void Read(long offset, Span<byte> buffer) => client.Read(offset, buffer);

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        if (readOnly) throw new IOException("Operation not permitted");
        client.Write(offset, buffer);
    }

    public void Flush()
    {
        if (!readOnly) client.Flush();
    }

    public bool PunchHole(long offset, long length) =>
        !readOnly && client.WriteZeroes(offset, length, mayDeallocate: true);

    public long? NextData(long offset)
    {
        // A hole the server does not promise to read as zeros counts as data: it must be read.
        while (offset < client.Size)
        {
            var (length, flags) = client.BlockStatus(offset, client.Size - offset);
            if ((flags & NbdMetaContexts.StateHole) == 0 || (flags & NbdMetaContexts.StateZero) == 0) return offset;
            offset += length;
        }
        return null;
    }

    public long NextHole(long offset)
    {
        while (offset < client.Size)
        {
            var (length, flags) = client.BlockStatus(offset, client.Size - offset);
            if ((flags & NbdMetaContexts.StateHole) != 0 && (flags & NbdMetaContexts.StateZero) != 0) return offset;
            offset += length;
        }
        return client.Size;
    }

    public void Dispose() => client.Dispose();
}
