using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using ImageTool.Info;
using ImageTool.IO;

namespace ImageTool.Formats.Qed;

/// <summary>
/// An opened QED image: an L1 and L2 tables (table_size clusters each) of u64 cluster offsets, where 0 is
/// unallocated (the backing file shows through) and 1 a zero cluster. New clusters are appended at the end
/// of the file, data before the L2 table that maps it, as qemu does. While allocating without a backing
/// file the need-check feature bit is set, and a clean close clears it; opening read-write an image that
/// still has it runs the consistency check first (qemu's crash recovery).
/// </summary>
internal sealed partial class QedImage : IImage
{
    private const ulong ZeroCluster = 1;
    private const long L2CacheBudget = 64L << 20;

    private readonly HostFile _file;
    private QedHeader _header;
    private readonly ulong[] _l1;
    private readonly int _clusterBits;
    private readonly long _clusterSize;
    private readonly int _l2Bits;
    private readonly Dictionary<ulong, ulong[]> _l2Cache = [];
    private readonly Lock _cacheLock = new();
    private readonly Lock _writeLock = new();
    private IImage? _backing;

    /// <summary>qemu's s->file_size: the file length rounded down to a cluster; new clusters go there.</summary>
    private ulong _fileSize;

    private QedImage(HostFile file, IImageFormat format, QedHeader header, ulong[] l1, ulong fileSize, string? backingName)
    {
        _file = file;
        Format = format;
        _header = header;
        _l1 = l1;
        _clusterBits = BitOperations.Log2(header.ClusterSize);
        _clusterSize = header.ClusterSize;
        _l2Bits = BitOperations.Log2((uint)header.TableEntries);
        _fileSize = fileSize;
        BackingFileName = backingName;
    }

    public static QedImage Open(HostFile file, IImageFormat format, OpenOptions options)
    {
        // Bytes past the end of the file read as zeros, as in qemu's block layer.
        Span<byte> head = stackalloc byte[QedHeader.Size];
        file.Read(0, head);
        var header = QedHeader.Read(head);
        long length = file.Length;
        ulong fileSize = header.ClusterSize == 0 ? 0 : (ulong)length & ~((ulong)header.ClusterSize - 1);
        header.Validate(fileSize);
        string? backing = null;
        if (header.HasBackingFile)
        {
            var name = new byte[header.BackingFilenameSize];
            file.Read(header.BackingFilenameOffset, name);
            backing = CString.DecodeName(name);
        }
        var raw = new byte[header.TableBytes];
        file.Read((long)header.L1TableOffset, raw);
        var l1 = new ulong[header.TableEntries];
        for (int i = 0; i < l1.Length; i++) l1[i] = BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(i * 8));
        var image = new QedImage(file, format, header, l1, fileSize, backing);
        if (!file.IsReadOnly) image.OpenForWriting(options.ForRepair);
        return image;
    }

    /// <summary>qemu's read-write open: unknown autoclear bits are dropped, an image left needing a check is checked and repaired.</summary>
    private void OpenForWriting(bool forRepair)
    {
        if (_header.AutoclearFeatures != 0)
        {
            _header = _header with { AutoclearFeatures = 0 };
            WriteHeader();
            _file.Flush();
        }
        if (!forRepair && _header.NeedsCheck) Check(ImageTool.Check.CheckRepair.All, _ => { });
    }

    public string FileName => _file.Path;
    public IImageFormat Format { get; }
    public string? BackingFileName { get; private set; }

    /// <summary>Only "raw" is recorded (the no-probe feature bit); any other backing format is probed.</summary>
    public string? BackingFormat => BackingFileName != null && (_header.Features & QedHeader.FeatureBackingFormatNoProbe) != 0 ? "raw" : null;

    public IImage? Backing => _backing;
    public long Length => (long)_header.ImageSize;
    public bool IsReadOnly => _file.IsReadOnly;

    public void AttachBacking(IImage? backing)
    {
        _backing?.Dispose();
        _backing = backing;
    }

    private void WriteHeader()
    {
        Span<byte> head = stackalloc byte[QedHeader.Size];
        _header.Write(head);
        _file.Write(0, head);
    }

    private enum Kind
    {
        Unallocated,
        Zero,
        Data,
    }

    /// <summary>What a guest cluster maps to; offsets that fail qemu's validity test fail the request (EINVAL).</summary>
    private (Kind Kind, ulong Host) Lookup(long cluster, long guestOffset)
    {
        ulong l2Offset = _l1[cluster >> _l2Bits];
        if (l2Offset == 0) return (Kind.Unallocated, 0);
        ulong entry = L2(l2Offset, guestOffset)[cluster & ((1L << _l2Bits) - 1)];
        if (entry == 0) return (Kind.Unallocated, 0);
        if (entry == ZeroCluster) return (Kind.Zero, 0);
        if (!_header.IsClusterOffsetValid(entry, _fileSize)) throw new ImageIOException(guestOffset, "Invalid argument");
        return (Kind.Data, entry);
    }

    private ulong[] L2(ulong l2Offset, long guestOffset)
    {
        lock (_cacheLock)
        {
            if (_l2Cache.TryGetValue(l2Offset, out var cached)) return cached;
        }
        if (!_header.IsTableOffsetValid(l2Offset, _fileSize)) throw new ImageIOException(guestOffset, "Invalid argument");
        int bytes = (int)_header.TableBytes;
        var raw = ArrayPool<byte>.Shared.Rent(bytes);
        try
        {
            _file.Read((long)l2Offset, raw.AsSpan(0, bytes));
            var table = new ulong[_header.TableEntries];
            for (int i = 0; i < table.Length; i++) table[i] = BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(i * 8));
            lock (_cacheLock)
            {
                if (_l2Cache.TryGetValue(l2Offset, out var raced)) return raced;
                if ((_l2Cache.Count + 1) * _header.TableBytes > L2CacheBudget) _l2Cache.Clear();
                _l2Cache[l2Offset] = table;
                return table;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
    }

    /// <summary>Bytes from <paramref name="offset"/> (at most <paramref name="limit"/>) that share one mapping kind, data runs contiguous on the host.</summary>
    private long Run(long offset, long limit, out Kind kind, out ulong host)
    {
        long cluster = offset >> _clusterBits;
        (kind, host) = Lookup(cluster, offset);
        long end = offset + limit;
        long runEnd = Math.Min(end, (cluster + 1) << _clusterBits);
        while (runEnd < end)
        {
            long next = runEnd >> _clusterBits;
            if (kind == Kind.Unallocated && _l1[next >> _l2Bits] == 0)
            {
                runEnd = Math.Min(end, ((next >> _l2Bits) + 1) << (_l2Bits + _clusterBits));
                continue;
            }
            var (k, h) = Lookup(next, runEnd);
            if (k != kind || (k == Kind.Data && h != host + (ulong)((next - cluster) << _clusterBits))) break;
            runEnd = Math.Min(end, runEnd + _clusterSize);
        }
        if (kind == Kind.Data) host += (ulong)(offset & (_clusterSize - 1));
        return runEnd - offset;
    }

    public void Read(long offset, Span<byte> buffer)
    {
        BlockDeviceChecks.CheckRange(this, offset, buffer.Length);
        while (buffer.Length > 0)
        {
            int n = (int)Run(offset, buffer.Length, out var kind, out ulong host);
            var part = buffer[..n];
            switch (kind)
            {
                case Kind.Unallocated: BackingChain.Read(_backing, offset, part); break;
                case Kind.Zero: part.Clear(); break;
                default: _file.Read((long)host, part); break;
            }
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>As qemu's bdrv_qed_co_block_status: data at its host offset, zero clusters, unallocated (backing or zeros).</summary>
    public BlockStatus GetBlockStatus(long offset, long length)
    {
        BlockDeviceChecks.CheckRange(this, offset, length);
        long n = Run(offset, length, out var kind, out ulong host);
        return kind switch
        {
            Kind.Data => new BlockStatus(offset, n, BlockState.Data, HostOffset: (long)host, HostFile: _file.Path),
            Kind.Zero => new BlockStatus(offset, n, BlockState.Zero),
            _ => new BlockStatus(offset, n, BlockState.Unallocated),
        };
    }

    /// <summary>qemu reports the cluster size and never a dirty flag (not even with need-check set).</summary>
    public ImageInfo GetInfo() => new()
    {
        Format = Format.Name,
        VirtualSize = Length,
        ActualSize = _file.AllocatedBytes,
        ClusterSize = _clusterSize,
        DirtyFlag = false,
    };

    public void Flush()
    {
        if (!IsReadOnly) _file.Flush();
    }

    /// <summary>A clean close: data on disk, then the need-check bit cleared (qemu's bdrv_qed_close).</summary>
    public void Dispose()
    {
        try
        {
            if (!IsReadOnly && _header.NeedsCheck)
            {
                lock (_writeLock)
                {
                    _file.Flush();
                    _header = _header with { Features = _header.Features & ~QedHeader.FeatureNeedCheck };
                    WriteHeader();
                }
            }
        }
        finally
        {
            _backing?.Dispose();
            _file.Dispose();
        }
    }
}
