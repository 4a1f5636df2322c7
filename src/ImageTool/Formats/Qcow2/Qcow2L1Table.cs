using System.Buffers.Binary;
using ImageTool.IO;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// The active L1 table: its entries in memory, whether they differ from the file, where it lies on disk (the header's
/// l1_table_offset and l1_size, changed only through the header store) and its growth. Snapshot L1 copies share the
/// on-disk encoding (<see cref="Encode"/>, <see cref="Decode"/>).
/// </summary>
internal sealed class Qcow2L1Table
{
    private readonly HostFile _file;
    private readonly Qcow2HeaderStore _headerStore;
    private readonly int _clusterBits;
    private ulong[] _entries;

    public Qcow2L1Table(HostFile file, Qcow2HeaderStore headerStore, int clusterBits)
    {
        _file = file;
        _headerStore = headerStore;
        _clusterBits = clusterBits;
        var header = headerStore.Header;
        _entries = Read(file, (long)header.L1TableOffset, header.L1Size);
    }

    /// <summary>Entries in the table.</summary>
    public int Length => _entries.Length;

    /// <summary>Where the active table lies in the file.</summary>
    public long Offset => (long)_headerStore.Header.L1TableOffset;

    /// <summary>The table's bytes on disk (entries only, not the rest of its last cluster).</summary>
    public long ByteLength => _entries.Length * 8L;

    /// <summary>Some entry was changed since the table was last written.</summary>
    public bool IsDirty { get; private set; }

    public ulong this[long index] => _entries[index];

    /// <summary>The host offset of the L2 table an entry points at (0: none).</summary>
    public long L2Offset(long index) => Qcow2Entry.HostOffset(_entries[index]);

    /// <summary>The entries as they stand (a snapshot copies them as they are, COPIED bits included).</summary>
    public ReadOnlySpan<ulong> Entries => _entries;

    /// <summary>Changes one entry; it reaches the file at the next <see cref="WriteBack"/>.</summary>
    public void Set(long index, ulong entry)
    {
        _entries[index] = entry;
        IsDirty = true;
    }

    /// <summary>Takes other entries as the active table (reverting to a snapshot's); written at the next <see cref="WriteBack"/>.</summary>
    /// <returns>The entries it replaced.</returns>
    public ulong[] Replace(ulong[] entries)
    {
        var old = _entries;
        _entries = entries;
        IsDirty = true;
        return old;
    }

    /// <summary>Shows other entries without ever writing them: a read-only image switched to a snapshot's view.</summary>
    public void ShowReadOnly(ulong[] entries)
    {
        _entries = entries;
        IsDirty = false;
    }

    /// <summary>Writes the table over its place in the file when it changed, after <paramref name="beforeWrite"/> passed (offset, length).</summary>
    public void WriteBack(Action<long, long> beforeWrite)
    {
        if (!IsDirty) return;
        var raw = Encode(_entries);
        beforeWrite(Offset, raw.Length);
        _file.Write(Offset, raw);
        IsDirty = false;
    }

    /// <summary>A freshly created image's table of <paramref name="entries"/> zeros, written in new clusters; the header's fields are set for the header write that follows.</summary>
    public void Create(long entries, Qcow2Refcounts refcounts)
    {
        var header = _headerStore.Header;
        if (entries > 0)
        {
            long offset = refcounts.Allocate(ClustersFor(entries * 8));
            refcounts.FlushBlocks();
            _file.Write(offset, new byte[entries * 8]);
            header.L1TableOffset = (ulong)offset;
        }
        header.L1Size = (uint)entries;
        _entries = new ulong[entries];
        IsDirty = false;
    }

    /// <summary>qemu's qcow2_grow_l1_table: a new table in fresh clusters, then the header points at it, then the old one is freed.</summary>
    public void Grow(long entries, Qcow2Refcounts refcounts)
    {
        var grown = new ulong[entries];
        _entries.CopyTo(grown, 0);
        long offset = refcounts.Allocate(ClustersFor(entries * 8));
        refcounts.FlushBlocks();
        _file.Write(offset, Encode(grown)); // as qemu, the table only, not the rest of its last cluster
        _file.Flush();
        long oldOffset = Offset;
        long oldClusters = ClustersFor((long)_headerStore.Header.L1Size * 8);
        _headerStore.SetL1Table((ulong)offset, (uint)entries);
        _entries = grown;
        if (oldClusters > 0 && oldOffset != 0) refcounts.Free(oldOffset, oldClusters);
        refcounts.FlushBlocks();
    }

    /// <summary>Zeroes <paramref name="clusters"/> whole clusters at the table's place and every entry (qemu's make_completely_empty); nothing is left to write.</summary>
    public void ZeroOnDisk(long clusters)
    {
        _file.Write(Offset, new byte[clusters << _clusterBits]);
        Array.Clear(_entries);
        IsDirty = false;
    }

    /// <summary>Clusters that <paramref name="bytes"/> of table take.</summary>
    public long ClustersFor(long bytes) => (bytes + (1L << _clusterBits) - 1) >> _clusterBits;

    /// <summary>Reads <paramref name="count"/> big-endian entries at <paramref name="offset"/>.</summary>
    public static ulong[] Read(HostFile file, long offset, long count)
    {
        var raw = new byte[count * 8];
        file.Read(offset, raw);
        return Decode(raw);
    }

    public static ulong[] Decode(ReadOnlySpan<byte> raw)
    {
        var entries = new ulong[raw.Length / 8];
        for (int i = 0; i < entries.Length; i++) entries[i] = BinaryPrimitives.ReadUInt64BigEndian(raw[(i * 8)..]);
        return entries;
    }

    public static byte[] Encode(ReadOnlySpan<ulong> entries)
    {
        var raw = new byte[entries.Length * 8];
        for (int i = 0; i < entries.Length; i++) BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(i * 8), entries[i]);
        return raw;
    }
}
