using System.Buffers;
using System.IO.Compression;
using ImageTool.IO;

namespace ImageTool.Formats.Vmdk;

/// <summary>
/// A sparse extent: hosted sparse ("KDMV", also streamOptimized) or VMFS sparse ("COWD"). The disk is cut
/// into grains; grain directory → grain table → grain sector, as in qemu's get_cluster_offset.
/// </summary>
internal sealed partial class VmdkSparseExtent : VmdkExtent
{
    /// <summary>qemu's VMDK_EXTENT_MAX_SECTORS: grain table entries are 32-bit sector numbers.</summary>
    private const long MaxFileSectors = 1L << 32;

    /// <summary>
    /// qemu allows grains up to 1 GiB; we stop at 16 MiB (VMware writes 64 KiB) so a hostile header cannot make a
    /// read or a partial write allocate gigabytes. qemu's limit of 32 Mi directory entries is kept.
    /// </summary>
    private const ulong MaxGrainSectors = 32768;
    private const ulong MaxDirectoryEntries = 32 * 1024 * 1024;

    private readonly Lock _allocLock = new();
    private long _nextSector;
    private long _streamPadEnd;

    public VmdkGrainTables Tables { get; }
    public int GrainSectors { get; }
    public override int GrainSize => GrainSectors * 512;
    public bool HasZeroGrain { get; }
    public override bool IsCompressed { get; }
    public bool HasMarkers { get; }

    /// <summary>Version 3 without compression, or a VMware stream with its footer: qemu (and img) only read these.</summary>
    public bool WriteProtected { get; }

    public override bool IsFlat => false;

    private VmdkSparseExtent(HostFile file, bool ownsFile, string? type, long sectors, VmdkGrainTables tables,
        int grainSectors, bool hasZeroGrain, bool compressed, bool hasMarkers, bool writeProtected)
        : base(file, ownsFile, sectors, type)
    {
        Tables = tables;
        GrainSectors = grainSectors;
        HasZeroGrain = hasZeroGrain;
        IsCompressed = compressed;
        HasMarkers = hasMarkers;
        WriteProtected = writeProtected;
        long fileSectors = (file.Length + 511) / 512;
        _nextSector = (fileSectors + grainSectors - 1) / grainSectors * grainSectors;
    }

    /// <summary>Opens a KDMV extent whose header is <paramref name="header"/> (qemu's vmdk_open_vmdk4, same checks and order).</summary>
    public static VmdkSparseExtent OpenHosted(HostFile file, bool ownsFile, string? type, VmdkSparseHeader header, bool readOnly)
    {
        bool footer = false;
        if (header.GdOffset == VmdkSparseHeader.GdAtEnd)
        {
            // VMware's streamOptimized layout: the footer (a header copy) in the last 1536 bytes wins.
            long end = (file.Length + 511) / 512 * 512;
            Span<byte> area = stackalloc byte[VmdkMarker.FooterAreaSize];
            if (end < area.Length) throw new ImageFormatException("Invalid footer");
            file.Read(end - area.Length, area);
            if (!VmdkMarker.IsValidFooterArea(area)) throw new ImageFormatException("Invalid footer");
            header = VmdkSparseHeader.Read(area[512..]);
            footer = true;
        }
        bool compressed = header.IsCompressed;
        if (header.Version > 3) throw new UnsupportedFeatureException($"Unsupported VMDK version {header.Version}");
        if (header.Version == 3 && !readOnly && !compressed) throw new ImageFormatException("VMDK version 3 must be read only");
        if (header.GtesPerGt > 512) throw new ImageFormatException("L2 table size too big");
        uint entrySectors = unchecked((uint)(header.GtesPerGt * header.GrainSize));
        if (entrySectors == 0) throw new ImageFormatException("L1 entry size is invalid");
        long fileSectors = (file.Length + 511) / 512;
        if ((ulong)fileSectors < header.OverHead)
            throw new ImageFormatException($"File truncated, expecting at least {unchecked((long)header.OverHead * 512)} bytes");
        if (header.GrainSize > MaxGrainSectors) throw new ImageFormatException("Invalid granularity, image may be corrupt");
        UInt128 entries = ((UInt128)header.Capacity + entrySectors - 1) / entrySectors;
        if (entries > MaxDirectoryEntries) throw new ImageFormatException("L1 size too big");
        CheckCapacity(header.Capacity);
        long rgd = (header.Flags & VmdkSparseHeader.FlagRedundantGd) != 0 ? checked((long)Math.Min(header.RgdOffset, long.MaxValue / 512) * 512) : 0;
        long gd = (long)Math.Min(header.GdOffset, long.MaxValue / 512) * 512;
        var tables = VmdkGrainTables.Load(file, gd, rgd, (int)entries, (int)header.GtesPerGt);
        bool markers = (header.Flags & VmdkSparseHeader.FlagMarkers) != 0;
        bool zeroGrain = (header.Flags & VmdkSparseHeader.FlagZeroGrain) != 0;
        return new VmdkSparseExtent(file, ownsFile, type, (long)header.Capacity, tables, (int)header.GrainSize,
            zeroGrain, compressed, markers, writeProtected: footer || (header.Version == 3 && !compressed));
    }

    /// <summary>Opens a COWD extent (qemu's vmdk_open_vmfs_sparse): 4096-entry tables, no redundant directory.</summary>
    public static VmdkSparseExtent OpenCowd(HostFile file, bool ownsFile, string? type, VmdkCowdHeader header)
    {
        if (header.Granularity == 0 || header.Granularity > MaxGrainSectors)
            throw new ImageFormatException("Invalid granularity, image may be corrupt");
        if (header.GdEntries > MaxDirectoryEntries) throw new ImageFormatException("L1 size too big");
        var tables = VmdkGrainTables.Load(file, header.GdOffset * 512L, 0, (int)header.GdEntries, VmdkCowdHeader.GtesPerGt);
        return new VmdkSparseExtent(file, ownsFile, type, header.DiskSectors, tables, (int)header.Granularity,
            hasZeroGrain: false, compressed: false, hasMarkers: false, writeProtected: false);
    }

    private static void CheckCapacity(ulong capacity)
    {
        if (capacity > long.MaxValue / 512)
            throw new ImageFormatException($"Extent capacity of {capacity} sectors is too large");
    }

    private enum GrainState { Free, Zero, Data, Compressed }

    /// <summary>Reads one grain table entry, with the table of the previous call reused.</summary>
    private struct Cursor(VmdkSparseExtent extent)
    {
        private int _index = -1;
        private uint[]? _table;

        public uint Entry(long grain, out GrainState state)
        {
            var tables = extent.Tables;
            long index = grain / tables.EntriesPerTable;
            if (index >= tables.DirectoryEntries)
                throw new IOException($"Grain {grain} lies outside the grain directory of '{extent.File.Path}'");
            if (index != _index)
            {
                _table = tables.Table((int)index);
                _index = (int)index;
            }
            uint gte = _table == null ? 0 : _table[grain % tables.EntriesPerTable];
            state = gte == 0 ? GrainState.Free
                : extent.HasZeroGrain && gte == 1 ? GrainState.Zero
                : extent.IsCompressed ? GrainState.Compressed
                : GrainState.Data;
            return gte;
        }

        public readonly bool TableMissing => _table == null;
    }

    public override VmdkRun Map(long offset, long length)
    {
        int g = GrainSize;
        long grain = offset / g;
        int inGrain = (int)(offset % g);
        var cursor = new Cursor(this);
        uint gte = cursor.Entry(grain, out var state);
        long len = Math.Min(g - inGrain, length);
        if (state == GrainState.Compressed) return new VmdkRun(VmdkRunKind.Compressed, len, gte * 512L);
        uint previous = gte;
        while (len < length)
        {
            if (cursor.TableMissing && state == GrainState.Free)
            {
                // A missing table is a whole table of unallocated grains: skip to its end at once.
                long tableEnd = (grain / Tables.EntriesPerTable + 1) * Tables.EntriesPerTable;
                long skip = (tableEnd - grain - 1) * (long)g;
                if (skip > 0)
                {
                    long take = Math.Min(skip, length - len);
                    len += take;
                    grain += (take + g - 1) / g;
                    continue;
                }
            }
            grain++;
            uint next = cursor.Entry(grain, out var nextState);
            if (nextState != state || (state == GrainState.Data && next != previous + (uint)GrainSectors)) break;
            previous = next;
            len += Math.Min(g, length - len);
        }
        return state switch
        {
            GrainState.Free => new VmdkRun(VmdkRunKind.Unallocated, len),
            GrainState.Zero => new VmdkRun(VmdkRunKind.Zero, len),
            _ => new VmdkRun(VmdkRunKind.Data, len, gte * 512L + inGrain),
        };
    }

    public override void ReadCompressed(VmdkRun run, long offset, Span<byte> buffer)
    {
        int g = GrainSize;
        int inGrain = (int)(offset % g);
        long required = Math.Min(g, Length - offset / g * g);
        if (inGrain == 0 && buffer.Length == g)
        {
            // A whole grain (convert's case): inflate straight into the caller's buffer.
            int whole = Inflate(run.HostOffset, buffer);
            if (whole < g) throw ShortGrain(run.HostOffset, whole);
            return;
        }
        byte[] grain = ArrayPool<byte>.Shared.Rent(g);
        try
        {
            int produced = Inflate(run.HostOffset, grain.AsSpan(0, g));
            // Like qemu's uncompress, a stream cut short fails even if the part asked for was decoded: every
            // grain must inflate whole (only the disk's last grain may be shorter).
            if (produced < required || inGrain + buffer.Length > produced) throw ShortGrain(run.HostOffset, produced);
            grain.AsSpan(inGrain, buffer.Length).CopyTo(buffer);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(grain);
        }
    }

    private ImageCorruptException ShortGrain(long host, int produced) =>
        new($"Compressed grain at byte {host} of '{File.Path}' holds only {produced} bytes");

    /// <summary>Inflates the grain stored at <paramref name="host"/>; returns how many bytes it holds (qemu's uncompress rules).</summary>
    private int Inflate(long host, Span<byte> grain)
    {
        int g = GrainSize;
        int size = g;
        long dataAt = host;
        if (HasMarkers)
        {
            Span<byte> marker = stackalloc byte[VmdkMarker.GrainHeaderSize];
            File.Read(host, marker);
            uint stored = VmdkMarker.GrainSize(marker);
            // qemu reads two grains from the marker and refuses sizes that do not fit in them.
            if (stored == 0 || stored > 2L * g - VmdkMarker.GrainHeaderSize)
                throw new ImageCorruptException($"Invalid grain marker at byte {host} of '{File.Path}': size {stored}");
            size = (int)stored;
            dataAt = host + VmdkMarker.GrainHeaderSize;
        }
        byte[] compressed = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            File.Read(dataAt, compressed.AsSpan(0, size));
            return VmdkCompression.Inflate(compressed.AsSpan(0, size), grain)
                ?? throw new ImageCorruptException($"Compressed grain at byte {host} of '{File.Path}' is corrupt");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(compressed);
        }
    }

    private long AllocateSectors(long count)
    {
        lock (_allocLock)
        {
            long first = _nextSector;
            if (first + count > MaxFileSectors)
                throw new IOException($"Extent '{File.Path}' is full: grain sectors must stay below 2^32");
            _nextSector = first + count;
            return first;
        }
    }

    public override void Flush()
    {
        PadStream();
        File.Flush();
    }

    // qemu zero-fills a whole grain before it writes each compressed one, so its files end one grain past the
    // last marker; doing the same keeps file sizes identical.
    private void PadStream()
    {
        if (_streamPadEnd > File.Length) File.SetLength(_streamPadEnd);
    }

    public void FinishWrites() => PadStream();
}
