namespace ImageTool.Formats.Qcow2;

/// <summary>
/// Decoding of L1 and L2 entries (docs/interop/qcow2.txt "Cluster mapping"). Every reader of an entry
/// goes through here, so compressed and extended-L2 support extend one place.
/// </summary>
internal static class Qcow2Entry
{
    public const ulong Copied = 1UL << 63;
    public const ulong CompressedFlag = 1UL << 62;
    public const ulong ZeroFlag = 1;
    public const ulong OffsetMask = 0x00FF_FFFF_FFFF_FE00;
    public const ulong L1ReservedMask = 0x7F00_0000_0000_01FF;
    public const ulong L2ReservedMask = 0x3F00_0000_0000_01FE;

    public static Qcow2ClusterType Type(ulong entry) => Type(entry, extendedL2: false, dataFile: false);

    /// <summary>
    /// As qemu's qcow2_get_cluster_type: with extended L2 bit 0 is not a zero flag (the bitmap says it); with an
    /// external data file offset 0 plus COPIED is a normal cluster (data-file offset 0 is valid and always has refcount 1).
    /// </summary>
    public static Qcow2ClusterType Type(ulong entry, bool extendedL2, bool dataFile)
    {
        if ((entry & CompressedFlag) != 0) return Qcow2ClusterType.Compressed;
        ulong offset = entry & OffsetMask;
        if ((entry & ZeroFlag) != 0 && !extendedL2) return offset != 0 ? Qcow2ClusterType.ZeroAlloc : Qcow2ClusterType.ZeroPlain;
        if (offset != 0) return Qcow2ClusterType.Normal;
        return dataFile && (entry & Copied) != 0 ? Qcow2ClusterType.Normal : Qcow2ClusterType.Unallocated;
    }

    /// <summary>Subcluster <paramref name="index"/> of an extended L2 entry's bitmap: allocated bits 0-31, zero bits 32-63.</summary>
    public static bool SubclusterAllocated(ulong bitmap, int index) => ((bitmap >> index) & 1) != 0;

    public static bool SubclusterZero(ulong bitmap, int index) => ((bitmap >> (32 + index)) & 1) != 0;

    /// <summary>Host offset of a normal or zero-allocated cluster.</summary>
    public static long HostOffset(ulong entry) => (long)(entry & OffsetMask);

    public static bool IsCopied(ulong entry) => (entry & Copied) != 0;

    /// <summary>Host byte offset and byte length (as qemu reads it) of a compressed cluster's stream.</summary>
    public static (long Offset, int Length) CompressedRange(ulong entry, int clusterBits)
    {
        int shift = 62 - (clusterBits - 8);
        long offset = (long)(entry & ((1UL << shift) - 1));
        int sectors = (int)((entry >> shift) & ((1UL << (clusterBits - 8)) - 1));
        return (offset, (sectors + 1) * 512 - (int)(offset & 511));
    }
}
