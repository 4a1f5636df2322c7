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
    private readonly Action<long, int> _tableMoved;
    private readonly Action<long>? _beforeBlockWrite;
    private ulong[] _table;
    private long _freeIndex;

    /// <summary>Reads the refcount table; <paramref name="beforeBlockWrite"/> sees each refcount block's offset before it is written and may throw to prevent the write.</summary>
    public Qcow2Refcounts(HostFile file, Qcow2Header header, Action<long, int> tableMoved, Action<long>? beforeBlockWrite = null)
    {
        _beforeBlockWrite = beforeBlockWrite;
        _file = file;
        _clusterBits = header.ClusterBits;
        _refcountOrder = header.RefcountOrder;
        _blockBits = _clusterBits + 3 - _refcountOrder;
        _maxRefcount = _refcountOrder == 6 ? ulong.MaxValue : (1UL << (1 << _refcountOrder)) - 1;
        _tableMoved = tableMoved;
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

    public long TableOffset { get; private set; }
    public int TableClusters { get; private set; }
    public IReadOnlyList<ulong> Table => _table;
    public int EntriesPerBlock => 1 << _blockBits;
    private int ClusterSize => 1 << _clusterBits;

    public bool IsDirty => _dirtyBlocks.Count > 0;

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

    /// <summary>Drops one reference from each cluster of a host range.</summary>
    public void Free(long hostOffset, long count)
    {
        long first = hostOffset >> _clusterBits;
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
        _tableMoved(TableOffset, TableClusters);
        Free(oldOffset, oldClusters);
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

    private ulong GetEntry(byte[] block, int i) => _refcountOrder switch
    {
        3 => block[i],
        4 => BinaryPrimitives.ReadUInt16BigEndian(block.AsSpan(i * 2)),
        5 => BinaryPrimitives.ReadUInt32BigEndian(block.AsSpan(i * 4)),
        6 => BinaryPrimitives.ReadUInt64BigEndian(block.AsSpan(i * 8)),
        _ => SubByte(block, i),
    };

    private ulong SubByte(byte[] block, int i)
    {
        int bits = 1 << _refcountOrder;
        int bit = i * bits;
        return (ulong)((block[bit >> 3] >> (bit & 7)) & ((1 << bits) - 1));
    }

    private void SetEntry(byte[] block, int i, ulong value)
    {
        switch (_refcountOrder)
        {
            case 3: block[i] = (byte)value; break;
            case 4: BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan(i * 2), (ushort)value); break;
            case 5: BinaryPrimitives.WriteUInt32BigEndian(block.AsSpan(i * 4), (uint)value); break;
            case 6: BinaryPrimitives.WriteUInt64BigEndian(block.AsSpan(i * 8), value); break;
            default:
                int bits = 1 << _refcountOrder;
                int bit = i * bits;
                int mask = ((1 << bits) - 1) << (bit & 7);
                block[bit >> 3] = (byte)((block[bit >> 3] & ~mask) | ((int)value << (bit & 7) & mask));
                break;
        }
    }
}
