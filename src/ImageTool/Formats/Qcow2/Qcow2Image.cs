using System.Buffers;
using ImageTool.Info;
using ImageTool.IO;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// An opened qcow2 image: L1/L2 lookup (the L1 table and the L2 cache own their entries), reads through the backing chain, block status and
/// info. Writing and allocation live in the other parts of this partial class; snapshots and check are parts of their
/// own (<see cref="Qcow2Snapshots"/>, <see cref="Qcow2Checker"/>) that the image composes.
/// </summary>
internal sealed partial class Qcow2Image : IImage, IHostFileRuns, IQcow2MetadataPath
{
    private readonly HostFile _file;
    private readonly Qcow2Header _header;
    /// <summary>Every header write goes through here.</summary>
    private readonly Qcow2HeaderStore _headerStore;
    private readonly Lock _lock = new();
    private readonly int _clusterBits;
    private readonly int _l2Bits;
    private readonly Qcow2L2Cache _l2;
    private readonly Qcow2DirtyBitmaps _bitmaps;
    private readonly Qcow2Encryption _encryption;
    private readonly Qcow2Snapshots _snapshots;
    private readonly Qcow2Checker _checker;
    private readonly Qcow2L1Table _l1;
    private IImage? _backing;
    private Action<ImageWarning>? _warning;

    private Qcow2Image(HostFile file, Qcow2Header header, IImageFormat format)
    {
        _file = file;
        _header = header;
        _headerStore = new Qcow2HeaderStore(file, header);
        Format = format;
        _clusterBits = header.ClusterBits;
        _extendedL2 = (header.IncompatibleFeatures & Qcow2Header.IncompatExtendedL2) != 0;
        _l2Bits = _clusterBits - (_extendedL2 ? 4 : 3);
        _l1 = new Qcow2L1Table(file, _headerStore, _clusterBits);
        _l2 = new Qcow2L2Cache(file, _clusterBits, _extendedL2);
        _encryption = new Qcow2Encryption(file, header, _headerStore);
        _bitmaps = new Qcow2DirtyBitmaps(file, header, _headerStore, () => Refcounts, CheckOverlap);
        _snapshots = new Qcow2Snapshots(file, _headerStore, _l1, _l2, _clusterBits, _lock, this);
        _checker = new Qcow2Checker(file, _headerStore, _l1, _l2, _snapshots, _clusterBits, _lock, this);
    }

    public static Qcow2Image Open(HostFile file, IImageFormat format, OpenOptions? options = null,
        string? createdDataFile = null)
    {
        bool forRepair = options?.ForRepair ?? false;
        try
        {
            var head = new byte[(int)Math.Min(file.Length, 1 << Qcow2Header.MaxClusterBits)];
            int n = file.ReadAvailable(0, head);
            var header = Qcow2Header.Read(head.AsSpan(0, n), !file.IsReadOnly && !forRepair);
            var image = new Qcow2Image(file, header, format) { _warning = options?.Warning };
            image.OpenDataFile(options ?? new OpenOptions(), createdDataFile);
            _ = image._snapshots.List;
            image._bitmaps.Validate(image._warning);
            image._encryption.Open(options ?? new OpenOptions());
            if (!file.IsReadOnly && !forRepair) image.OpenForWriting();
            if (!file.IsReadOnly && forRepair) image.ClearUnknownAutoclearBits();
            return image;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Turns a freshly created, empty image into an encrypted one (after its L1 is laid out, as qemu orders it).</summary>
    internal void InitializeEncryption(string format, string password, int iterTimeMs, Crypto.LuksCipherSpec? cipher, string hash)
    {
        lock (_lock) _encryption.Initialize(format, password, iterTimeMs, cipher, hash, Refcounts);
    }

    public string FileName => _file.Path;
    public IImageFormat Format { get; }
    public string? BackingFileName => _header.BackingFile;
    public string? BackingFormat => _header.BackingFormat;
    public IImage? Backing => _backing;
    // qemu keeps whole sectors only (bs->total_sectors = size / 512).
    public long Length => (long)_header.Size & ~511L;
    public bool IsReadOnly => _file.IsReadOnly;
    private int ClusterSize => 1 << _clusterBits;
    private int L2Entries => 1 << _l2Bits;

    public void AttachBacking(IImage? backing) => _backing = backing;

    /// <summary>One run of guest clusters with the same kind of mapping.</summary>
    private readonly record struct Run(Qcow2ClusterType Type, long Length, long HostOffset, ulong Entry);

    public void Read(long offset, Span<byte> buffer)
    {
        BlockDeviceChecks.CheckRange(this, offset, buffer.Length);
        ThrowIfUnusable(offset);
        while (buffer.Length > 0)
        {
            Run run;
            lock (_lock) run = MapOrSignal(offset, buffer.Length);
            var part = buffer[..(int)run.Length];
            ReadRun(run, offset, part);
            offset += part.Length;
            buffer = buffer[part.Length..];
        }
    }

    private void ReadRun(Run run, long offset, Span<byte> part)
    {
        switch (run.Type)
        {
            case Qcow2ClusterType.Unallocated:
                BackingChain.Read(_backing, offset, part);
                break;
            case Qcow2ClusterType.ZeroPlain or Qcow2ClusterType.ZeroAlloc:
                part.Clear();
                break;
            case Qcow2ClusterType.Normal:
                ReadData(run.HostOffset, offset, part);
                break;
            case Qcow2ClusterType.Compressed when part.Length == ClusterSize:
                ReadCompressedCluster(run.Entry, part); // a whole cluster: no bounce buffer
                break;
            case Qcow2ClusterType.Compressed:
                var cluster = ArrayPool<byte>.Shared.Rent(ClusterSize);
                try
                {
                    ReadCompressedCluster(run.Entry, cluster.AsSpan(0, ClusterSize));
                    cluster.AsSpan((int)(offset & (ClusterSize - 1)), part.Length).CopyTo(part);
                }
                finally { ArrayPool<byte>.Shared.Return(cluster); }
                break;
        }
    }

    public BlockStatus GetBlockStatus(long offset, long length)
    {
        BlockDeviceChecks.CheckRange(this, offset, length);
        Run run;
        bool refine;
        lock (_lock)
        {
            run = MapOrSignal(offset, length);
            refine = run.Type == Qcow2ClusterType.Normal && _header.CryptMethod == 0 && MetadataPreallocated;
        }
        if (refine) return HostHoles.Refine(new BlockStatus(offset, run.Length, BlockState.Data, HostOffset: run.HostOffset, HostFile: DataFile.Path), DataFile);
        return run.Type switch
        {
            // Unallocated subclusters of an allocated cluster: qemu reports the cluster's host offset.
            Qcow2ClusterType.Unallocated when run.HostOffset != 0 && _header.CryptMethod == 0 =>
                new BlockStatus(offset, run.Length, BlockState.Unallocated, HostOffset: run.HostOffset, HostFile: DataFile.Path),
            Qcow2ClusterType.Unallocated => new BlockStatus(offset, run.Length, BlockState.Unallocated),
            Qcow2ClusterType.ZeroPlain => new BlockStatus(offset, run.Length, BlockState.Zero),
            Qcow2ClusterType.ZeroAlloc => new BlockStatus(offset, run.Length, BlockState.Zero, HostOffset: run.HostOffset, HostFile: DataFile.Path),
            Qcow2ClusterType.Compressed => new BlockStatus(offset, run.Length, BlockState.Data),
            _ when _header.CryptMethod != 0 => new BlockStatus(offset, run.Length, BlockState.Data),
            _ => new BlockStatus(offset, run.Length, BlockState.Data, HostOffset: run.HostOffset, HostFile: DataFile.Path),
        };
    }

    public HostRun? FindHostRun(long offset, long length) => HostRun.Of(GetBlockStatus(offset, length), DataFile);

    /// <summary>
    /// The run starting at <paramref name="offset"/>: clusters of one type (and, when stored, contiguous on
    /// the host) within one L2 table, at most <paramref name="maxLength"/> bytes. Caller holds the lock.
    /// </summary>
    private Run Map(long offset, long maxLength)
    {
        if (_extendedL2) return MapSubclusters(offset, maxLength);
        long cs = ClusterSize;
        long cluster = offset >> _clusterBits;
        long inCluster = offset & (cs - 1);
        ulong entry = Lookup(cluster, out bool wholeTableUnallocated);
        var type = EntryType(entry);
        long host = type is Qcow2ClusterType.Normal or Qcow2ClusterType.ZeroAlloc ? Qcow2Entry.HostOffset(entry) : 0;
        long length = cs - inCluster;
        if (type != Qcow2ClusterType.Compressed)
        {
            long nextHost = host + cs;
            // A run ends with its L2 table, as in qemu (compare -s reports offsets where runs start).
            long ownTableEnd = ((cluster >> _l2Bits) + 1) << (_l2Bits + _clusterBits);
            long limit = Math.Min(Math.Min(maxLength, Length - offset), ownTableEnd - offset);
            while (length < limit)
            {
                long next = cluster + ((inCluster + length) >> _clusterBits);
                if (wholeTableUnallocated && type == Qcow2ClusterType.Unallocated && (next & (L2Entries - 1)) != 0)
                {
                    // The rest of an L2 range without a table: skip to its end at once.
                    long tableEnd = ((next >> _l2Bits) + 1) << _l2Bits;
                    length += (tableEnd - next) << _clusterBits;
                    continue;
                }
                ulong e = Lookup(next, out wholeTableUnallocated);
                var t = EntryType(e);
                if (t != type) break;
                if (t is Qcow2ClusterType.Normal or Qcow2ClusterType.ZeroAlloc)
                {
                    if (Qcow2Entry.HostOffset(e) != nextHost) break;
                    nextHost += cs;
                }
                length += cs;
            }
        }
        return new Run(type, Math.Min(length, maxLength), host + inCluster, entry);
    }

    /// <summary>
    /// The L2 entry of a guest cluster (0 when its L1 entry is empty). Caller holds the lock. An unaligned data
    /// offset is reported with qemu's read or write path message.
    /// </summary>
    private ulong Lookup(long cluster, out bool noTable, bool forWrite = false)
    {
        long l1Index = cluster >> _l2Bits;
        noTable = true;
        if (l1Index >= _l1.Length) return 0;
        long l2Offset = Qcow2Entry.HostOffset(_l1[l1Index]);
        if (l2Offset == 0) return 0;
        noTable = false;
        int index = (int)(cluster & (L2Entries - 1));
        ulong entry = LoadL2(l2Offset, l1Index)[index];
        var type = EntryType(entry);
        if (type is Qcow2ClusterType.Normal or Qcow2ClusterType.ZeroAlloc && (Qcow2Entry.HostOffset(entry) & (ClusterSize - 1)) != 0)
        {
            throw new ImageCorruptException(forWrite
                ? $"Data cluster offset {Hex(Qcow2Entry.HostOffset(entry))} unaligned (guest offset: {Hex(cluster << _clusterBits)})"
                : $"Cluster allocation offset {Hex(Qcow2Entry.HostOffset(entry))} unaligned (L2 offset: {Hex(l2Offset)}, L2 index: {Hex(index)})");
        }
        return entry;
    }

    private ulong[] LoadL2(long l2Offset, long l1Index)
    {
        if (_l2.TryGet(l2Offset, out var table)) return table;
        if ((l2Offset & (ClusterSize - 1)) != 0)
            throw new ImageCorruptException($"L2 table offset {Hex(l2Offset)} unaligned (L1 index: {Hex(l1Index)})");
        if (_l2.IsFull) EvictL2Cache();
        return _l2.Load(l2Offset);
    }

    private long ClustersFor(long bytes) => (bytes + ClusterSize - 1) >> _clusterBits;

    internal static string Hex(long value) => value == 0 ? "0" : $"0x{value:x}";

    public ImageInfo GetInfo()
    {
        var data = new InfoObject()
            .Add("compat", _header.Version == 2 ? "0.10" : "1.1")
            .Add("compression-type", _header.CompressionType == 0 ? "zlib" : "zstd");
        if (_header.Version >= 3)
        {
            data.Add("lazy-refcounts", (_header.CompatibleFeatures & Qcow2Header.CompatLazyRefcounts) != 0)
                .Add("corrupt", (_header.IncompatibleFeatures & Qcow2Header.IncompatCorrupt) != 0)
                .Add("extended-l2", (_header.IncompatibleFeatures & Qcow2Header.IncompatExtendedL2) != 0);
        }
        data.Add("refcount-bits", _header.RefcountBits);
        if (_header.DataFile != null) data.Add("data-file", _header.DataFile);
        if (HasDataFile) data.Add("data-file-raw", (_header.AutoclearFeatures & Qcow2Header.AutoclearDataFileRaw) != 0);
        var bitmaps = Qcow2Bitmap.ReadDirectory(_file, _header).Bitmaps;
        if (bitmaps.Count > 0)
        {
            data.Add("bitmaps", new InfoList(bitmaps.Select(b =>
            {
                var flags = new List<InfoNode>();
                if ((b.Flags & Qcow2Bitmap.FlagInUse) != 0) flags.Add(InfoNode.Of("in-use"));
                if ((b.Flags & Qcow2Bitmap.FlagAuto) != 0) flags.Add(InfoNode.Of("auto"));
                return (InfoNode)new InfoObject().Add("flags", new InfoList(flags)).Add("name", b.Name).Add("granularity", 1L << b.GranularityBits);
            }).ToList()));
        }
        data.Add("encrypt", _encryption.Info());
        return new ImageInfo
        {
            Format = Format.Name,
            VirtualSize = Length,
            ActualSize = _file.AllocatedBytes, // qemu 7.2 counts the qcow2 file only, not the data file
            ClusterSize = ClusterSize,
            DirtyFlag = (_header.IncompatibleFeatures & Qcow2Header.IncompatDirty) != 0,
            Encrypted = _header.CryptMethod != 0,
            FormatSpecificType = "qcow2",
            FormatSpecificData = data,
            Snapshots = _snapshots.List.Select(s => s.ToInfo()).ToList(),
        };
    }

    public void Dispose()
    {
        try
        {
            if (!IsReadOnly) Close();
        }
        finally
        {
            _file.Dispose();
            _backing?.Dispose();
            _dataFile?.Dispose();
            _encryption.Dispose();
        }
    }
}
