using System.Buffers.Binary;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// Extended L2 entries (incompat bit 4): 128-bit entries whose second word is a bitmap of 32 subclusters,
/// bits 0-31 allocated, bits 32-63 reads as zeros (docs/interop/qcow2.txt "Extended L2 Entries").
/// The first words live in the L2 cache as for standard tables; the bitmaps beside them.
/// </summary>
internal sealed partial class Qcow2Image
{
    private const int SubclustersPerCluster = 32;

    private readonly bool _extendedL2;
    private readonly Dictionary<long, ulong[]> _l2Bitmaps = [];

    private Qcow2ClusterType EntryType(ulong entry) => Qcow2Entry.Type(entry, _extendedL2, HasDataFile);

    private int SubclusterBits => _clusterBits - 5;

    /// <summary>Splits a raw L2 table into entries and (extended L2 only) subcluster bitmaps.</summary>
    private ulong[] DecodeL2(ReadOnlySpan<byte> raw, out ulong[]? bitmaps)
    {
        var table = new ulong[L2Entries];
        bitmaps = null;
        if (!_extendedL2)
        {
            for (int i = 0; i < table.Length; i++) table[i] = BinaryPrimitives.ReadUInt64BigEndian(raw[(i * 8)..]);
            return table;
        }
        bitmaps = new ulong[L2Entries];
        for (int i = 0; i < table.Length; i++)
        {
            table[i] = BinaryPrimitives.ReadUInt64BigEndian(raw[(i * 16)..]);
            bitmaps[i] = BinaryPrimitives.ReadUInt64BigEndian(raw[(i * 16 + 8)..]);
        }
        return table;
    }

    /// <summary>Serialises the cached L2 table at <paramref name="l2Offset"/> (with its bitmaps for extended L2).</summary>
    private void EncodeL2(long l2Offset, Span<byte> raw)
    {
        var table = _l2Cache[l2Offset];
        if (!_extendedL2)
        {
            for (int i = 0; i < table.Length; i++) BinaryPrimitives.WriteUInt64BigEndian(raw[(i * 8)..], table[i]);
            return;
        }
        var bitmaps = _l2Bitmaps[l2Offset];
        for (int i = 0; i < table.Length; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(raw[(i * 16)..], table[i]);
            BinaryPrimitives.WriteUInt64BigEndian(raw[(i * 16 + 8)..], bitmaps[i]);
        }
    }

    /// <summary>The subcluster bitmap of a guest cluster (0 without an L2 table). Caller holds the lock.</summary>
    private ulong LookupBitmap(long cluster)
    {
        long l1Index = cluster >> _l2Bits;
        if (l1Index >= _l1.Length) return 0;
        long l2Offset = Qcow2Entry.HostOffset(_l1[l1Index]);
        if (l2Offset == 0) return 0;
        if (!_l2Bitmaps.TryGetValue(l2Offset, out var bitmaps))
        {
            LoadL2(l2Offset, l1Index);
            bitmaps = _l2Bitmaps[l2Offset];
        }
        return bitmaps[cluster & (L2Entries - 1)];
    }

    /// <summary>
    /// <see cref="Map"/> for extended L2: a run of subclusters in one state inside one cluster (or the rest of
    /// an L2 range without a table). Caller holds the lock.
    /// </summary>
    private Run MapSubclusters(long offset, long maxLength)
    {
        long cs = ClusterSize;
        long cluster = offset >> _clusterBits;
        long inCluster = offset & (cs - 1);
        long limit = Math.Min(maxLength, Length - offset);
        ulong entry = Lookup(cluster, out bool noTable);
        if (noTable)
        {
            long tableEnd = ((cluster >> _l2Bits) + 1) << (_l2Bits + _clusterBits);
            return new Run(Qcow2ClusterType.Unallocated, Math.Min(limit, tableEnd - offset), 0, 0);
        }
        var type = EntryType(entry);
        if (type == Qcow2ClusterType.Compressed) return new Run(type, Math.Min(limit, cs - inCluster), 0, entry);
        ulong bitmap = LookupBitmap(cluster);
        if (type == Qcow2ClusterType.Unallocated && (uint)bitmap != 0)
            throw new ImageCorruptException($"Unallocated cluster with allocated subclusters (L2 entry: {entry:x16} {bitmap:x16})");
        if (((uint)bitmap & (uint)(bitmap >> 32)) != 0)
            throw new ImageCorruptException($"Subclusters both allocated and zero (L2 entry: {entry:x16} {bitmap:x16})");
        int first = (int)(inCluster >> SubclusterBits);
        var state = SubclusterState(type, bitmap, first);
        int last = first;
        while (last + 1 < SubclustersPerCluster && SubclusterState(type, bitmap, last + 1) == state) last++;
        long length = ((long)(last + 1) << SubclusterBits) - inCluster;
        long host = state == Qcow2ClusterType.Normal ? Qcow2Entry.HostOffset(entry) + inCluster : 0;
        return new Run(state, Math.Min(length, limit), host, entry);
    }

    private static Qcow2ClusterType SubclusterState(Qcow2ClusterType type, ulong bitmap, int index) =>
        type == Qcow2ClusterType.Normal && Qcow2Entry.SubclusterAllocated(bitmap, index) ? Qcow2ClusterType.Normal
        : Qcow2Entry.SubclusterZero(bitmap, index) ? Qcow2ClusterType.ZeroPlain
        : Qcow2ClusterType.Unallocated;
}
