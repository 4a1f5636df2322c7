using System.Buffers.Binary;
using ImageTool.IO;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// The refcount table and its blocks with a write-back cache, and cluster allocation on top of them
/// (block/qcow2-refcount.c). Not thread-safe: the image serialises every call.
/// </summary>
internal sealed class Qcow2Refcounts
{
    private readonly HostFile _file;
    private readonly int _clusterBits;
    private readonly int _refcountOrder;
    private readonly int _blockBits; // log2(entries per refcount block)
    private readonly ulong _maxRefcount;
    private readonly Dictionary<long, byte[]> _blocks = [];
    private const long MaxCachedBytes = 32 << 20;
    private readonly HashSet<long> _dirtyBlocks = [];
    private readonly List<(long Start, long Count)> _pending = [];
    private readonly Qcow2HeaderStore _header;
    private readonly Action<long>? _beforeBlockWrite;
    private ulong[] _table;
    private long _freeIndex;

    /// <summary>Reads the refcount table; <paramref name="beforeBlockWrite"/> sees each refcount block's offset before it is written and may throw to prevent the write.</summary>
    public Qcow2Refcounts(HostFile file, Qcow2HeaderStore headerStore, Action<long>? beforeBlockWrite = null)
    {
        var header = headerStore.Header;
        _header = headerStore;
        _beforeBlockWrite = beforeBlockWrite;
        _file = file;
        _clusterBits = header.ClusterBits;
        _refcountOrder = header.RefcountOrder;
        _blockBits = _clusterBits + 3 - _refcountOrder;
        _maxRefcount = _refcountOrder == 6 ? ulong.MaxValue : (1UL << (1 << _refcountOrder)) - 1;
        TableOffset = (long)header.RefcountTableOffset;
        TableClusters = (int)header.RefcountTableClusters;
        int entries = TableClusters << (_clusterBits - 3);
        var raw = new byte[entries * 8];
        _file.Read(TableOffset, raw);
        _table = new ulong[entries];
        for (int i = 0; i < entries; i++) _table[i] = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(i * 8));
        _usedEntries = Array.FindLastIndex(_table, e => e != 0) + 1;
    }

    // Table entries past this index are all 0 (qemu's max_refcount_table_index + 1).
    private int _usedEntries;

    /// <summary>Whether a refcount block lies in the host range [start, end) (the metadata overlap check).</summary>
    public bool HasBlockIn(long start, long end)
    {
        foreach (ulong entry in _table.AsSpan(0, _usedEntries))
        {
            long offset = (long)(entry & ~0x1FFUL);
            if (offset != 0 && offset < end && start < offset + ClusterSize) return true;
        }
        return false;
    }

    /// <summary>The largest refcount an entry of this width holds (2^refcount_bits - 1).</summary>
    public ulong MaxRefcount => _maxRefcount;

    public long TableOffset { get; private set; }
    public int TableClusters { get; private set; }
    public IReadOnlyList<ulong> Table => _table;
    public int EntriesPerBlock => 1 << _blockBits;
    private int ClusterSize => 1 << _clusterBits;

    public bool IsDirty => _dirtyBlocks.Count > 0;

    /// <summary>
    /// While set, clusters whose refcount drops to 0 are punched out of the file at the next <see cref="FlushBlocks"/>:
    /// qemu passes such discards down for snapshot operations and shrinking (pass-discard-snapshot, "always"), not
    /// for ordinary writes.
    /// </summary>
    public bool DiscardFreed { get; set; }

    private readonly HashSet<long> _discards = [];

    public ulong Get(long cluster)
    {
        long index = cluster >> _blockBits;
        if (index >= _table.Length || _table[index] == 0) return 0;
        return GetEntry(LoadBlock(index), (int)(cluster & (EntriesPerBlock - 1)));
    }

    /// <summary>Adds <paramref name="delta"/> to a cluster's refcount, creating refcount blocks (and growing the table) as needed.</summary>
    public void Change(long cluster, long delta)
    {
        long index = cluster >> _blockBits;
        if (delta < 0 && (index >= _table.Length || _table[index] == 0))
            throw new ImageCorruptException($"Refcount of cluster {cluster} out of range (0 + {delta})");
        if (index >= _table.Length) GrowTable(index);
        if (_table[index] == 0) CreateBlock(index);
        var block = LoadBlock(index);
        int i = (int)(cluster & (EntriesPerBlock - 1));
        ulong value = GetEntry(block, i);
        ulong next = unchecked(value + (ulong)delta);
        if ((delta < 0 && (ulong)(-delta) > value) || (delta > 0 && (next > _maxRefcount || next < value)))
            throw new ImageCorruptException($"Refcount of cluster {cluster} out of range ({value} + {delta})");
        SetEntry(block, i, next);
        _dirtyBlocks.Add(index);
        if (next == 0 && cluster < _freeIndex) _freeIndex = cluster;
        if (next == 0 && DiscardFreed) _discards.Add(cluster);
        else if (value == 0) _discards.Remove(cluster); // allocated again before the discard ran: keep its new data
    }

    /// <summary>Allocates <paramref name="count"/> contiguous clusters (refcount 1 each) and returns the host offset of the first.</summary>
    public long Allocate(long count)
    {
        long start = FindFree(count);
        _pending.Add((start, count));
        try
        {
            for (long c = start; c < start + count; c++) Change(c, 1);
        }
        finally { _pending.Remove((start, count)); }
        return start << _clusterBits;
    }

    /// <summary>Drops one reference from each cluster of a host range; all or nothing (qemu reverts a failed decrease).</summary>
    public void Free(long hostOffset, long count)
    {
        long first = hostOffset >> _clusterBits;
        for (long c = first; c < first + count; c++)
        {
            if (Get(c) == 0) throw new ImageCorruptException($"Refcount of cluster {c} out of range (0 + -1)");
        }
        for (long c = first; c < first + count; c++) Change(c, -1);
    }

    // qemu's alloc_clusters_noref: the first run of free clusters at or after the free index.
    private long FindFree(long count)
    {
        long start = _freeIndex;
        long c = start;
        while (c - start < count)
        {
            if (IsPending(c, out long pendingEnd))
            {
                c = start = pendingEnd;
                continue;
            }
            if (Get(c) != 0) start = c + 1;
            c++;
        }
        _freeIndex = start + count;
        return start;
    }

    private bool IsPending(long cluster, out long end)
    {
        foreach (var (s, n) in _pending)
        {
            if (cluster >= s && cluster < s + n)
            {
                end = s + n;
                return true;
            }
        }
        end = 0;
        return false;
    }

    private void CreateBlock(long index)
    {
        long cluster = FindFree(1);
        _pending.Add((cluster, 1));
        try
        {
            _blocks[index] = new byte[ClusterSize];
            _table[index] = (ulong)cluster << _clusterBits;
            _usedEntries = Math.Max(_usedEntries, (int)index + 1);
            _dirtyBlocks.Add(index);
            WriteTableEntry(index);
            Change(cluster, 1);
        }
        finally { _pending.Remove((cluster, 1)); }
    }

    // A bigger table in fresh clusters; the old one is freed once the header points at the new one.
    private void GrowTable(long neededIndex)
    {
        long entries = Math.Max(neededIndex + 1, (long)_table.Length * 3 / 2);
        int perCluster = ClusterSize / 8;
        int clusters = (int)((entries + perCluster - 1) / perCluster);
        if ((long)clusters * ClusterSize > Qcow2Header.MaxRefcountTableBytes)
            throw new IOException("Refcount table would exceed its maximum size");
        long oldOffset = TableOffset;
        int oldClusters = TableClusters;
        long start = FindFree(clusters);
        _pending.Add((start, clusters));
        try
        {
            var table = new ulong[(long)clusters * perCluster];
            _table.CopyTo(table, 0);
            _table = table;
            TableOffset = start << _clusterBits;
            TableClusters = clusters;
            for (long c = start; c < start + clusters; c++) Change(c, 1);
        }
        finally { _pending.Remove((start, clusters)); }
        // New references must be counted before the header switches: blocks first, then table, then header.
        FlushBlocks();
        WriteTable();
        _file.Flush();
        _header.SetRefcountTable((ulong)TableOffset, (uint)TableClusters);
        Free(oldOffset, oldClusters);
    }

    /// <summary>
    /// qemu's qcow2_refcount_area (exact size): at <paramref name="startOffset"/>, the refcount blocks still missing
    /// and then a new table, sized so that everything up to <paramref name="additionalClusters"/> clusters past the
    /// start is covered, all of them counted. The old table is freed. Returns the end of the new structures, where
    /// the caller's clusters go.
    /// </summary>
    public long AddArea(long startOffset, long additionalClusters)
    {
        FlushBlocks();
        long cs = ClusterSize;
        long perBlock = EntriesPerBlock;
        long blockCount = RefcountBlocksFor((startOffset >> _clusterBits) + additionalClusters);
        long perCluster = cs / 8;
        long tableSize = (blockCount + perCluster - 1) / perCluster * perCluster;
        if (tableSize * 8 > Qcow2Header.MaxRefcountTableBytes) throw new IOException("File too large");
        int tableClusters = (int)(tableSize * 8 / cs);
        long areaIndex = (startOffset >> _clusterBits) / perBlock;
        int maxIndex = _table.Length - 1;
        while (maxIndex > 0 && _table[maxIndex] == 0) maxIndex--;
        var table = new ulong[tableSize];
        Array.Copy(_table, table, Math.Min(tableSize, maxIndex + 1));
        long missing = 0;
        for (long i = areaIndex; i < blockCount; i++) missing += table[i] == 0 ? 1 : 0;
        long tableOffset = startOffset + missing * cs;
        long end = tableOffset + tableClusters * cs;
        long blockOffset = startOffset;
        var blocks = new List<(long Index, byte[] Block)>();
        for (long i = areaIndex; i < blockCount; i++)
        {
            byte[] block;
            if (table[i] != 0) block = LoadBlock(i);
            else
            {
                block = new byte[cs];
                table[i] = (ulong)blockOffset;
                blockOffset += cs;
            }
            long first = i * perBlock * cs;
            if (first < end)
            {
                long j = first < startOffset ? (startOffset - first) / cs : 0;
                long stop = Math.Min((end - first) / cs, perBlock);
                for (; j < stop; j++) SetEntry(block, (int)j, 1);
            }
            blocks.Add((i, block));
        }
        long oldOffset = TableOffset;
        int oldClusters = TableClusters;
        _table = table;
        _usedEntries = Array.FindLastIndex(_table, e => e != 0) + 1;
        foreach (var (index, block) in blocks)
        {
            _blocks[index] = block;
            _dirtyBlocks.Add(index);
        }
        FlushBlocks();
        TableOffset = tableOffset;
        TableClusters = tableClusters;
        WriteTable();
        _file.Flush();
        _header.SetRefcountTable((ulong)TableOffset, (uint)TableClusters);
        Free(oldOffset, oldClusters);
        return end;
    }

    /// <summary>Sets the refcount of clusters the caller knows to be free to 1 (qemu's qcow2_alloc_clusters_at).</summary>
    public void AllocateAt(long offset, long count)
    {
        long first = offset >> _clusterBits;
        for (long c = first; c < first + count; c++) Change(c, 1);
    }

    /// <summary>The last cluster below <paramref name="fileLength"/> with a non-zero refcount, or -1 (qemu's qcow2_get_last_cluster).</summary>
    public long LastUsedCluster(long fileLength)
    {
        for (long c = ((fileLength + ClusterSize - 1) >> _clusterBits) - 1; c >= 0; c--)
        {
            if (Get(c) != 0) return c;
        }
        return -1;
    }

    // qemu's qcow2_refcount_metadata_size: refcount blocks for a number of clusters plus their own refcount metadata.
    private long RefcountBlocksFor(long clusters)
    {
        long perTableCluster = ClusterSize / 8;
        long perBlock = EntriesPerBlock;
        long table = 0, blocks = 0, n = 0, last;
        do
        {
            last = n;
            blocks = (clusters + table + blocks + perBlock - 1) / perBlock;
            table = (blocks + perTableCluster - 1) / perTableCluster;
            n = clusters + blocks + table;
        } while (n != last);
        return blocks;
    }

    private void WriteTable()
    {
        var raw = new byte[_table.Length * 8];
        for (int i = 0; i < _table.Length; i++) BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(i * 8), _table[i]);
        _file.Write(TableOffset, raw);
    }

    // Written by FlushBlocks after the block itself, so the table never points at an unwritten block.
    private void WriteTableEntry(long index) => _deferredTableEntries.Add(index);

    private readonly HashSet<long> _deferredTableEntries = [];

    private byte[] LoadBlock(long index)
    {
        if (_blocks.TryGetValue(index, out var block)) return block;
        ulong entry = _table[index];
        long offset = (long)(entry & ~0x1FFUL);
        if ((offset & (ClusterSize - 1)) != 0)
            throw new ImageCorruptException($"Refblock offset {offset:#x} unaligned (reftable index: {index:#x})");
        block = new byte[ClusterSize];
        _file.Read(offset, block);
        if ((long)_blocks.Count * ClusterSize >= MaxCachedBytes) EvictClean();
        _blocks[index] = block;
        return block;
    }

    private void EvictClean()
    {
        foreach (var key in _blocks.Keys.Where(k => !_dirtyBlocks.Contains(k)).ToList()) _blocks.Remove(key);
    }

    /// <summary>Writes dirty refcount blocks and new table entries (before the L2/L1 updates that rely on them).</summary>
    public void FlushBlocks()
    {
        foreach (long index in _dirtyBlocks.Order())
        {
            long offset = (long)(_table[index] & ~0x1FFUL);
            _beforeBlockWrite?.Invoke(offset);
            _file.Write(offset, _blocks[index]);
        }
        _dirtyBlocks.Clear();
        ProcessDiscards();
        if (_deferredTableEntries.Count == 0) return;
        Span<byte> raw = stackalloc byte[8];
        foreach (long index in _deferredTableEntries.Order())
        {
            if (index >= _table.Length) continue;
            BinaryPrimitives.WriteUInt64BigEndian(raw, _table[index]);
            _file.Write(TableOffset + index * 8, raw);
        }
        _deferredTableEntries.Clear();
    }

    /// <summary>
    /// Drops refcount blocks that count nothing but (maybe) themselves, after a shrink (qemu's qcow2_shrink_reftable):
    /// the table is written without them, then a block counted in another block loses that reference.
    /// </summary>
    public void DropUnusedBlocks()
    {
        FlushBlocks();
        var unused = new List<long>();
        for (long index = 0; index < _table.Length; index++)
        {
            if (_table[index] == 0) continue;
            var block = LoadBlock(index);
            long self = (long)(_table[index] & ~0x1FFUL) >> _clusterBits;
            bool selfInBlock = self >> _blockBits == index;
            int selfEntry = (int)(self & (EntriesPerBlock - 1));
            ulong selfCount = selfInBlock ? GetEntry(block, selfEntry) : 0;
            if (selfInBlock) SetEntry(block, selfEntry, 0);
            bool empty = block.AsSpan().IndexOfAnyExcept((byte)0) < 0;
            if (selfInBlock) SetEntry(block, selfEntry, selfCount);
            if (empty) unused.Add(index);
        }
        // qemu rewrites the whole table even when no block goes.
        var kept = (ulong[])_table.Clone();
        foreach (long index in unused) kept[index] = 0;
        var old = _table;
        _table = kept;
        WriteTable();
        _file.Flush();
        foreach (long index in unused)
        {
            _blocks.Remove(index);
            _dirtyBlocks.Remove(index);
            long cluster = (long)(old[index] & ~0x1FFUL) >> _clusterBits;
            if (cluster >> _blockBits != index) Change(cluster, -1);
        }
        FlushBlocks();
    }

    /// <summary>Punches the queued free clusters out of the file, merged into runs (after their refcounts are written).</summary>
    private void ProcessDiscards()
    {
        if (_discards.Count == 0) return;
        long start = -1, end = -1;
        foreach (long c in _discards.Order())
        {
            if (c != end)
            {
                if (start >= 0) _file.PunchHole(start << _clusterBits, (end - start) << _clusterBits);
                start = c;
            }
            end = c + 1;
        }
        _file.PunchHole(start << _clusterBits, (end - start) << _clusterBits);
        _discards.Clear();
    }

    private ulong GetEntry(byte[] block, int i) => GetEntry(block, _refcountOrder, i);

    private void SetEntry(byte[] block, int i, ulong value) => SetEntry(block, _refcountOrder, i, value);

    /// <summary>Entry <paramref name="i"/> of a refcount block whose entries are 2^<paramref name="order"/> bits wide.</summary>
    internal static ulong GetEntry(byte[] block, int order, int i) => order switch
    {
        3 => block[i],
        4 => BinaryPrimitives.ReadUInt16BigEndian(block.AsSpan(i * 2)),
        5 => BinaryPrimitives.ReadUInt32BigEndian(block.AsSpan(i * 4)),
        6 => BinaryPrimitives.ReadUInt64BigEndian(block.AsSpan(i * 8)),
        _ => (ulong)((block[(i << order) >> 3] >> ((i << order) & 7)) & ((1 << (1 << order)) - 1)),
    };

    internal static void SetEntry(byte[] block, int order, int i, ulong value)
    {
        switch (order)
        {
            case 3: block[i] = (byte)value; break;
            case 4: BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan(i * 2), (ushort)value); break;
            case 5: BinaryPrimitives.WriteUInt32BigEndian(block.AsSpan(i * 4), (uint)value); break;
            case 6: BinaryPrimitives.WriteUInt64BigEndian(block.AsSpan(i * 8), value); break;
            default:
                int bits = 1 << order;
                int bit = i * bits;
                int mask = ((1 << bits) - 1) << (bit & 7);
                block[bit >> 3] = (byte)((block[bit >> 3] & ~mask) | ((int)value << (bit & 7) & mask));
                break;
        }
    }
}
