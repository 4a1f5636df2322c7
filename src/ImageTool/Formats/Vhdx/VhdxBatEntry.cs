namespace ImageTool.Formats.Vhdx;

/// <summary>
/// BAT entries ([MS-VHDX] 2.5.1): bits 0-2 the block state, bits 20-63 the file offset in MiB. Payload entries
/// and sector bitmap entries interleave: one bitmap entry after every chunk-ratio payload entries.
/// </summary>
internal static class VhdxBatEntry
{
    public const int NotPresent = 0;
    public const int Undefined = 1;
    public const int Zero = 2;
    public const int Unmapped = 3;
    public const int FullyPresent = 6;
    public const int PartiallyPresent = 7;

    private const ulong OffsetMask = ~0xFFFFFUL;

    public static int State(ulong entry) => (int)(entry & 7);

    public static long FileOffset(ulong entry) => (long)(entry & OffsetMask);

    public static ulong Make(long fileOffset, int state) => ((ulong)fileOffset & OffsetMask) | (uint)state;

    /// <summary>The BAT index of a payload block.</summary>
    public static long PayloadIndex(long block, long chunkRatio) => block + block / chunkRatio;

    /// <summary>
    /// qemu's vhdx_calc_bat_entries for a disk without parent. For an empty disk qemu's 32-bit arithmetic
    /// underflows to (2^32 - 1) / chunk ratio entries: <paramref name="asQemuCreates"/> keeps that, so the BAT
    /// region of a 0-byte image is as large as qemu makes it; reading needs none.
    /// </summary>
    public static long Count(ulong virtualSize, uint blockSize, long chunkRatio, bool asQemuCreates = false)
    {
        long blocks = (long)((virtualSize + blockSize - 1) / blockSize);
        if (blocks == 0) return asQemuCreates ? uint.MaxValue / chunkRatio : 0;
        return blocks + (blocks - 1) / chunkRatio;
    }
}
