using ImageTool.Info;
using System.Numerics;
using ImageTool.Operations;
using ImageTool.Options;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// <c>img measure -O qcow2</c> (qemu's qcow2_measure): the numbers come from qcow2's layout rules and the source's
/// allocation, not from writing anything.
/// </summary>
internal static class Qcow2Measure
{
    public static MeasureResult Measure(ImageOptions o, long? size, IImage? source, CancellationToken cancellationToken)
    {
        bool extendedL2 = o.GetBool("extended_l2") ?? false;
        long clusterSize = o.GetSize("cluster_size") ?? 65536;
        if (clusterSize is < 512 or > 2 << 20 || !BitOperations.IsPow2(clusterSize))
            throw new ImageFormatException("Cluster size must be a power of two between 512 and 2048k");
        int version = o.GetString("compat") switch
        {
            null or "1.1" or "v3" => 3,
            "0.10" or "v2" => 2,
            var v => throw new ImageFormatException($"Invalid parameter '{v}'"),
        };
        long refcountBits = o.GetNumber("refcount_bits") ?? 16;
        if (refcountBits is < 1 or > 64 || !BitOperations.IsPow2(refcountBits))
            throw new ImageFormatException("Refcount width must be a power of two and may not exceed 64 bits");
        if (version < 3 && refcountBits != 16)
            throw new ImageFormatException("Different refcount widths than 16 bits require compatibility level 1.1 or above (use version=v3 or greater)");
        string preallocation = o.GetString("preallocation") ?? "off";
        if (preallocation is not ("off" or "metadata" or "falloc" or "full"))
            throw new ImageFormatException($"invalid parameter value: {preallocation}");
        bool hasBacking = o.GetString("backing_file") != null;

        long virtualSize = RoundUp(size ?? o.GetSize("size") ?? 0, clusterSize);
        int l2EntrySize = extendedL2 ? 16 : 8;
        long l2Tables = DivRoundUp(virtualSize / clusterSize, clusterSize / l2EntrySize);
        if (l2Tables * 8 > 32 << 20)
            throw new ImageFormatException("The image size is too large (try using a larger cluster size)");

        long required = 0;
        if (source != null)
        {
            long sourceSize = source.Length;
            virtualSize = RoundUp(sourceSize, clusterSize);
            if (hasBacking)
            {
                required = virtualSize;
            }
            else
            {
                for (long offset = 0, n; offset < sourceSize; offset += n)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var s = BackingChain.GetStatus(source, offset, sourceSize - offset);
                    n = s.Length;
                    if (s.IsZero) continue;
                    if (s.IsData)
                    {
                        // Count whole clusters; the next run starts at the end of this one's last cluster.
                        n = RoundUp(offset + n, clusterSize) - offset;
                        required += offset % clusterSize + n;
                    }
                }
            }
        }
        if (preallocation is "full" or "falloc") required = virtualSize;

        long fully = PreallocatedSize(virtualSize, clusterSize, BitOperations.Log2((ulong)refcountBits), l2EntrySize);
        // qemu reports a bitmaps size when the source can store persistent bitmaps (qcow2 v3).
        long? bitmaps = version >= 3 && source is IPersistentBitmaps { CanStoreBitmaps: true } ? BitmapsSize(source, clusterSize) : null;
        return new MeasureResult(fully - virtualSize + required, fully, bitmaps);
    }

    /// <summary>
    /// qemu's qcow2_measure: every persistent bitmap of the source counted as fully allocated (its data clusters
    /// and its table, each rounded up to target clusters), plus the directory entries, also rounded up; empty
    /// bitmaps count in full too.
    /// </summary>
    private static long BitmapsSize(IImage source, long clusterSize)
    {
        if (source.GetInfo().FormatSpecificData?.Members.FirstOrDefault(m => m.Key == "bitmaps").Value is not InfoList list) return 0;
        long size = 0, directory = 0;
        foreach (var bitmap in list.Items.OfType<InfoObject>())
        {
            var members = bitmap.Members.ToDictionary(m => m.Key, m => m.Value);
            if (members.GetValueOrDefault("granularity") is not InfoNumber { Value: > 0 } granularity
                || members.GetValueOrDefault("name") is not InfoString name) continue;
            long bits = (source.Length + (long)granularity.Value - 1) / (long)granularity.Value;
            long clusters = ((bits + 7) / 8 + clusterSize - 1) / clusterSize;
            size += clusters * clusterSize + RoundUp(clusters * 8, clusterSize);
            directory += RoundUp(24 + System.Text.Encoding.UTF8.GetByteCount(name.Value), 8);
        }
        return size + RoundUp(directory, clusterSize);
    }

    /// <summary>qcow2_calc_prealloc_size: header, L2 and L1 tables, refcount metadata and the data itself.</summary>
    private static long PreallocatedSize(long totalSize, long clusterSize, int refcountOrder, int l2EntrySize)
    {
        long aligned = RoundUp(totalSize, clusterSize);
        long meta = clusterSize;
        long l2Entries = RoundUp(aligned / clusterSize, clusterSize / l2EntrySize);
        meta += l2Entries * l2EntrySize;
        long l1Entries = RoundUp(l2Entries * l2EntrySize / clusterSize, clusterSize / 8);
        meta += l1Entries * 8;
        meta += RefcountMetadataSize((meta + aligned) / clusterSize, clusterSize, refcountOrder);
        return meta + aligned;
    }

    /// <summary>Refcount table and blocks covering every cluster including themselves: the fixed point.</summary>
    private static long RefcountMetadataSize(long clusters, long clusterSize, int refcountOrder)
    {
        long blocksPerTableCluster = clusterSize / 8;
        long refcountsPerBlock = clusterSize * 8 / (1L << refcountOrder);
        long table = 0, blocks = 0, n = 0, last;
        do
        {
            last = n;
            blocks = DivRoundUp(clusters + table + blocks, refcountsPerBlock);
            table = DivRoundUp(blocks, blocksPerTableCluster);
            n = clusters + blocks + table;
        } while (n != last);
        return (blocks + table) * clusterSize;
    }

    private static long RoundUp(long value, long multiple) => (value + multiple - 1) / multiple * multiple;

    private static long DivRoundUp(long value, long divisor) => (value + divisor - 1) / divisor;
}
