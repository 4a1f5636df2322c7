using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// Extended L2 entries (incompat bit 4): 128-bit entries whose second word is a bitmap of 32 subclusters,
/// bits 0-31 allocated, bits 32-63 reads as zeros (docs/interop/qcow2.txt "Extended L2 Entries").
/// The L2 cache keeps the first words as for standard tables and the bitmaps beside them.
/// </summary>
internal sealed partial class Qcow2Image
{
    private const int SubclustersPerCluster = 32;

    private readonly bool _extendedL2;

    private Qcow2ClusterType EntryType(ulong entry) => Qcow2Entry.Type(entry, _extendedL2, HasDataFile);

    private int SubclusterBits => _clusterBits - 5;

    /// <summary>The subcluster bitmap of a guest cluster (0 without an L2 table). Caller holds the lock.</summary>
    private ulong LookupBitmap(long cluster)
    {
        long l1Index = cluster >> _l2Bits;
        if (l1Index >= _l1.Length) return 0;
        long l2Offset = Qcow2Entry.HostOffset(_l1[l1Index]);
        if (l2Offset == 0) return 0;
        LoadL2(l2Offset, l1Index); // a cache hit normally; (re)reads table and bitmaps together otherwise
        return _l2.Bitmaps(l2Offset)[cluster & (L2Entries - 1)];
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
        // Unallocated subclusters of an allocated cluster keep its host offset (qemu's map prints it).
        long host = type == Qcow2ClusterType.Normal ? Qcow2Entry.HostOffset(entry) + inCluster : 0;
        return new Run(state, Math.Min(length, limit), host, entry);
    }

    private static Qcow2ClusterType SubclusterState(Qcow2ClusterType type, ulong bitmap, int index) =>
        type == Qcow2ClusterType.Normal && Qcow2Entry.SubclusterAllocated(bitmap, index) ? Qcow2ClusterType.Normal
        : Qcow2Entry.SubclusterZero(bitmap, index) ? (type == Qcow2ClusterType.Normal ? Qcow2ClusterType.ZeroAlloc : Qcow2ClusterType.ZeroPlain)
        : Qcow2ClusterType.Unallocated;

    /// <summary>The bitmaps of the (writable, cached) L2 table of an L1 index, after <see cref="GetL2ForWrite"/>.</summary>
    private ulong[] CurrentBitmaps(long l1Index) => _l2.Bitmaps(Qcow2Entry.HostOffset(_l1[l1Index]));

    private static ulong SubclusterMask(int first, int last) => (last == 31 ? uint.MaxValue : (1UL << (last + 1)) - 1) & ~((1UL << first) - 1);

    /// <summary>
    /// Writes the part of a request inside one guest cluster: only the touched subclusters become allocated, and
    /// the untouched parts of partially written subclusters are filled from what they read as before.
    /// </summary>
    private int WriteInCluster(long offset, ReadOnlySpan<byte> data)
    {
        long cluster = offset >> _clusterBits;
        long clusterStart = cluster << _clusterBits;
        int inCluster = (int)(offset - clusterStart);
        int n = (int)Math.Min(data.Length, ClusterSize - inCluster);
        long l1Index = cluster >> _l2Bits;
        int i = (int)(cluster & (L2Entries - 1));
        ulong entry = Lookup(cluster, out bool noTable, forWrite: true);
        var type = EntryType(entry);
        ulong bitmap = noTable ? 0 : LookupBitmap(cluster);
        int first = inCluster >> SubclusterBits, last = (inCluster + n - 1) >> SubclusterBits;
        ulong mask = SubclusterMask(first, last);
        ulong newBitmap = (bitmap | mask) & ~(mask << 32);
        if (type == Qcow2ClusterType.Normal && Qcow2Entry.IsCopied(entry))
        {
            long host = Qcow2Entry.HostOffset(entry);
            FillSubclusterEdges(bitmap, host, clusterStart, inCluster, n);
            WriteData(host + inCluster, offset, data[..n]);
            if (newBitmap != bitmap)
            {
                GetL2ForWrite(l1Index);
                CurrentBitmaps(l1Index)[i] = newBitmap;
            }
            return n;
        }
        if (type == Qcow2ClusterType.Normal)
        {
            CopySharedCluster(l1Index, i, clusterStart, bitmap, inCluster, data[..n]);
            return n;
        }
        BeginMetadataChange();
        var table = GetL2ForWrite(l1Index);
        long newHost = HasDataFile ? clusterStart : Refcounts.Allocate(1);
        if (type == Qcow2ClusterType.Compressed)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(ClusterSize);
            try
            {
                var span = buffer.AsSpan(0, ClusterSize);
                ReadCompressedCluster(entry, span);
                data[..n].CopyTo(span[inCluster..]);
                WriteData(newHost, clusterStart, span);
            }
            finally { ArrayPool<byte>.Shared.Return(buffer); }
            newBitmap = uint.MaxValue;
        }
        else
        {
            FillSubclusterEdges(bitmap & ~(ulong)uint.MaxValue, newHost, clusterStart, inCluster, n);
            WriteData(newHost + inCluster, offset, data[..n]);
        }
        ReleaseEntry(table[i]);
        table[i] = (ulong)newHost | Qcow2Entry.Copied;
        CurrentBitmaps(l1Index)[i] = newBitmap;
        return n;
    }

    /// <summary>
    /// A write into a cluster shared with a snapshot (qemu's handle_alloc with subclusters): a new cluster receives
    /// what the guest sees from the first allocated or written subcluster to the last one, with the new data on top;
    /// those subclusters become allocated, the ones outside keep their zero/unallocated state.
    /// </summary>
    private void CopySharedCluster(long l1Index, int i, long clusterStart, ulong bitmap, int inCluster, ReadOnlySpan<byte> data)
    {
        uint allocated = (uint)bitmap;
        int first = inCluster >> SubclusterBits, last = (inCluster + data.Length - 1) >> SubclusterBits;
        if (allocated != 0)
        {
            first = Math.Min(first, BitOperations.TrailingZeroCount(allocated));
            last = Math.Max(last, 31 - BitOperations.LeadingZeroCount(allocated));
        }
        int from = first << SubclusterBits, to = (last + 1) << SubclusterBits;
        var buffer = ArrayPool<byte>.Shared.Rent(ClusterSize);
        try
        {
            var span = buffer.AsSpan(from, to - from);
            int inImage = (int)Math.Clamp(Length - (clusterStart + from), 0, span.Length);
            Read(clusterStart + from, span[..inImage]);
            span[inImage..].Clear();
            data.CopyTo(buffer.AsSpan(inCluster));
            BeginMetadataChange();
            var table = GetL2ForWrite(l1Index);
            long newHost = Refcounts.Allocate(1);
            WriteData(newHost + from, clusterStart + from, span);
            ReleaseEntry(table[i]);
            table[i] = (ulong)newHost | Qcow2Entry.Copied;
            ulong mask = SubclusterMask(first, last);
            CurrentBitmaps(l1Index)[i] = (bitmap | mask) & ~(mask << 32);
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }

    /// <summary>Fills the head and tail of the first/last touched subclusters that were not allocated before.</summary>
    private void FillSubclusterEdges(ulong bitmap, long host, long clusterStart, int inCluster, int n)
    {
        int sc = 1 << SubclusterBits;
        int first = inCluster >> SubclusterBits, last = (inCluster + n - 1) >> SubclusterBits;
        if (!Qcow2Entry.SubclusterAllocated(bitmap, first) && inCluster > first * sc)
            FillFromPrevious(bitmap, first, host, clusterStart, first * sc, inCluster - first * sc);
        int end = inCluster + n;
        if (!Qcow2Entry.SubclusterAllocated(bitmap, last) && end < (last + 1) * sc)
            FillFromPrevious(bitmap, last, host, clusterStart, end, (last + 1) * sc - end);
    }

    private void FillFromPrevious(ulong bitmap, int subcluster, long host, long clusterStart, int from, int length)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var span = buffer.AsSpan(0, length);
            long guest = clusterStart + from;
            int inImage = (int)Math.Clamp(Length - guest, 0, length);
            if (Qcow2Entry.SubclusterZero(bitmap, subcluster)) span.Clear();
            else
            {
                BackingChain.Read(_backing, guest, span[..inImage]);
                span[inImage..].Clear();
            }
            WriteData(host + from, guest, span);
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }

    /// <summary>
    /// Zeroes part of one guest cluster: whole subclusters get their zero bits (qemu's zero_l2_subclusters), the
    /// unaligned head and tail are written as zeros. Compressed clusters and raw data files are written as zeros.
    /// </summary>
    private void ZeroPartOfCluster(long offset, long end, long clusterStart)
    {
        long sc = 1L << SubclusterBits;
        long alignedStart = (offset + sc - 1) & ~(sc - 1);
        long alignedEnd = end == Length ? end : end & ~(sc - 1);
        ulong entry = Lookup(offset >> _clusterBits, out _);
        if (alignedStart >= alignedEnd || DataFileRaw || EntryType(entry) == Qcow2ClusterType.Compressed)
        {
            if (!ReadsAsZeros(entry, clusterStart)) WriteZeroBytes(offset, end - offset);
            return;
        }
        long cluster = offset >> _clusterBits;
        long l1Index = cluster >> _l2Bits;
        GetL2ForWrite(l1Index);
        ref ulong bitmap = ref CurrentBitmaps(l1Index)[cluster & (L2Entries - 1)];
        ulong mask = SubclusterMask((int)((alignedStart - clusterStart) >> SubclusterBits), (int)((alignedEnd - 1 - clusterStart) >> SubclusterBits));
        bitmap = (bitmap | (mask << 32)) & ~mask;
        if (offset < alignedStart) WriteZeroBytes(offset, alignedStart - offset);
        if (alignedEnd < end) WriteZeroBytes(alignedEnd, end - alignedEnd);
    }

    /// <summary>A whole guest cluster reads as zeros: all zero bits set; the host cluster kept unless it may go.</summary>
    private void ZeroClusterWithSubclusters(long l1Index, ulong[] table, int i, long cluster, bool mayDeallocate)
    {
        ulong old = table[i];
        var type = EntryType(old);
        if (DataFileRaw && type == Qcow2ClusterType.Normal)
            Raw.RawFormat.ZeroFill(DataFile, cluster << _clusterBits, Math.Min(ClusterSize, Length - (cluster << _clusterBits)));
        bool keep = type == Qcow2ClusterType.Normal && Qcow2Entry.IsCopied(old) && (!mayDeallocate || DataFileRaw);
        if (!keep)
        {
            ReleaseEntry(old);
            table[i] = 0;
        }
        CurrentBitmaps(l1Index)[i] = 0xFFFF_FFFF_0000_0000;
    }
}
