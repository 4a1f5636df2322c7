using System.Collections.Concurrent;
using ImageTool.IO;

namespace ImageTool.Nbd;

/// <summary>
/// An NBD export as an image's container: reads, writes, trims and base:allocation for SEEK_DATA/SEEK_HOLE.
/// When the server allows multi-conn (NBD_FLAG_CAN_MULTI_CONN: every connection sees the same data), reads
/// spread over a few more connections, opened in the background at the first read, so the read-ahead of
/// convert's workers runs in parallel instead of taking turns on one socket.
/// </summary>
internal sealed class NbdRemoteFile : IRemoteFile
{
    /// <summary>Connections reads may use at once: nbdcopy's default too.</summary>
    private const int ReadConnections = 4;

    private readonly NbdAddress _address;
    private readonly NbdClient _client;
    private readonly NbdClientTls? _tls;
    private readonly bool _readOnly;
    private readonly bool _bitmapStatus;
    private readonly BlockingCollection<NbdClient>? _idleReaders;
    private readonly List<NbdClient> _extraClients = [];
    private readonly Lock _lock = new();
    private int _extraStarted;
    private bool _disposed;

    // The last base:allocation extent the server reported, [Start, End) with its flags: SEEK_DATA and SEEK_HOLE
    // step through extents, and each step ends by looking at the next one, which the step after asks about
    // again. Kept, it costs one round trip per extent instead of up to three. Dropped around every write of ours.
    private (long Start, long End, uint Flags)? _lastExtent;
    private long _writes;

    private NbdRemoteFile(NbdAddress address, NbdClient client, NbdClientTls? tls, bool readOnly, bool bitmapStatus)
    {
        _bitmapStatus = bitmapStatus;
        _address = address;
        _client = client;
        _tls = tls;
        _readOnly = readOnly;
        if (client.Flags.HasFlag(NbdTransmissionFlags.CanMultiConn)) _idleReaders = new BlockingCollection<NbdClient> { client };
    }

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

    /// <summary>
    /// Connects. <paramref name="dirtyBitmap"/> (qemu's x-dirty-bitmap, a meta context name) replaces base:allocation
    /// as the source of block status, which is then read as qemu's nbd driver reads it (see <see cref="GetBlockStatus"/>).
    /// </summary>
    public static NbdRemoteFile Open(NbdAddress address, bool readOnly, NbdClientTls? tls = null, string? dirtyBitmap = null)
    {
        var client = NbdClient.Connect(address, Timeout, tls, dirtyBitmap);
        if (!readOnly && client.IsReadOnly)
        {
            client.Dispose();
            throw new ImageFormatException("Read-only NBD export cannot be opened for writing: Operation not permitted");
        }
        return new NbdRemoteFile(address, client, tls, readOnly, dirtyBitmap != null);
    }

    public NbdClient Client => _client;

    public string Name => _address.ToString();

    public long Length => _client.Size;

    public bool IsReadOnly => _readOnly;

    public void Read(long offset, Span<byte> buffer)
    {
        if (_idleReaders == null)
        {
            _client.Read(offset, buffer);
            return;
        }
        if (Interlocked.Exchange(ref _extraStarted, 1) == 0) _ = Task.Run(OpenExtraReaders);
        var reader = _idleReaders.Take();
        try
        {
            reader.Read(offset, buffer);
        }
        finally
        {
            _idleReaders.Add(reader);
        }
    }

    /// <summary>
    /// Opens the extra read connections one by one. A server that takes fewer clients (qemu-nbd -e) leaves one
    /// unanswered in its backlog: a short handshake timeout gives up on it, and reads go on over those there are.
    /// </summary>
    private void OpenExtraReaders()
    {
        var timeout = TimeSpan.FromSeconds(Math.Min(5, Timeout.TotalSeconds));
        for (int i = 1; i < ReadConnections; i++)
        {
            NbdClient extra;
            try
            {
                extra = NbdClient.Connect(_address, timeout, _tls);
            }
            catch (Exception e) when (e is IOException or ImageFormatException)
            {
                return;
            }
            lock (_lock)
            {
                if (_disposed || extra.Size != _client.Size)
                {
                    extra.Dispose();
                    return;
                }
                _extraClients.Add(extra);
                _idleReaders!.Add(extra);
            }
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        if (_readOnly) throw new IOException("Operation not permitted");
        ForgetExtent();
        try { _client.Write(offset, buffer); }
        finally { ForgetExtent(); }
    }

    public void Flush()
    {
        if (!_readOnly) _client.Flush();
    }

    public bool PunchHole(long offset, long length)
    {
        if (_readOnly) return false;
        ForgetExtent();
        try { return _client.WriteZeroes(offset, length, mayDeallocate: true); }
        finally { ForgetExtent(); }
    }

    public long? NextData(long offset)
    {
        if (_bitmapStatus) return offset < _client.Size ? offset : null;
        // A hole the server does not promise to read as zeros counts as data: it must be read.
        while (offset < _client.Size)
        {
            var (length, flags) = Extent(offset);
            if ((flags & NbdMetaContexts.StateHole) == 0 || (flags & NbdMetaContexts.StateZero) == 0) return offset;
            offset += length;
        }
        return null;
    }

    public long NextHole(long offset)
    {
        if (_bitmapStatus) return _client.Size;
        while (offset < _client.Size)
        {
            var (length, flags) = Extent(offset);
            if ((flags & NbdMetaContexts.StateHole) != 0 && (flags & NbdMetaContexts.StateZero) != 0) return offset;
            offset += length;
        }
        return _client.Size;
    }

    /// <summary>The base:allocation extent from <paramref name="offset"/> to the end of the export: its length and flags.</summary>
    private (long Length, uint Flags) Extent(long offset)
    {
        lock (_lock)
        {
            if (_lastExtent is var (start, end, known) && start <= offset && offset < end) return (end - offset, known);
        }
        long writes = Interlocked.Read(ref _writes);
        var (length, flags) = _client.BlockStatus(offset, _client.Size - offset);
        lock (_lock)
        {
            // A write that ran meanwhile may have changed what the reply describes.
            if (writes == Interlocked.Read(ref _writes)) _lastExtent = (offset, offset + length, flags);
        }
        return (length, flags);
    }

    private void ForgetExtent()
    {
        lock (_lock)
        {
            Interlocked.Increment(ref _writes);
            _lastExtent = null;
        }
    }

    /// <summary>
    /// With x-dirty-bitmap, the bitmap's extents as qemu shows them (qemu-img map over such a node is how clients
    /// read a bitmap): the dirty bit is taken for NBD_STATE_HOLE, so dirty runs are unallocated and clean runs data.
    /// Otherwise null: the file's holes say it all.
    /// </summary>
    public BlockStatus? GetBlockStatus(long offset, long length)
    {
        if (!_bitmapStatus) return null;
        var (run, flags) = _client.BlockStatus(offset, length);
        var state = ((flags & NbdMetaContexts.StateHole) == 0 ? BlockState.Data : 0) | ((flags & NbdMetaContexts.StateZero) != 0 ? BlockState.Zero : 0);
        return new BlockStatus(offset, run, state, HostOffset: state == BlockState.Unallocated ? null : offset);
    }

    public void Dispose()
    {
        List<NbdClient> extras;
        lock (_lock)
        {
            _disposed = true;
            extras = [.. _extraClients];
        }
        foreach (var extra in extras) extra.Dispose();
        _client.Dispose();
        _idleReaders?.Dispose();
    }
}
