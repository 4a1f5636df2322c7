namespace ImageTool.Formats.Vpc;

/// <summary>The CHS geometry of a VHD (VHD spec appendix "CHS Calculation"), as qemu's vpc driver computes it.</summary>
internal readonly record struct VpcGeometry(ushort Cylinders, byte Heads, byte SectorsPerTrack)
{
    /// <summary>65535 x 16 x 255: the geometry that means "use current_size".</summary>
    public const long MaxGeometrySectors = 65535L * 16 * 255;

    /// <summary>qemu allows at most 2040 GiB (0xFF000000 sectors).</summary>
    public const long MaxSectors = 0xFF000000L;

    public static readonly VpcGeometry Max = new(65535, 16, 255);

    public long Sectors => (long)Cylinders * Heads * SectorsPerTrack;

    /// <summary>The spec's algorithm for a sector count (capped at the largest geometry); integer division throughout.</summary>
    public static VpcGeometry For(long totalSectors)
    {
        totalSectors = Math.Min(totalSectors, MaxGeometrySectors);
        int sectors, heads;
        long cylindersTimesHeads;
        if (totalSectors >= 65535L * 16 * 63)
        {
            sectors = 255;
            heads = 16;
            cylindersTimesHeads = totalSectors / sectors;
        }
        else
        {
            sectors = 17;
            cylindersTimesHeads = totalSectors / sectors;
            heads = (int)Math.Max(4, (cylindersTimesHeads + 1023) / 1024);
            if (cylindersTimesHeads >= heads * 1024L || heads > 16)
            {
                sectors = 31;
                heads = 16;
                cylindersTimesHeads = totalSectors / sectors;
            }
            if (cylindersTimesHeads >= heads * 1024L)
            {
                sectors = 63;
                heads = 16;
                cylindersTimesHeads = totalSectors / sectors;
            }
        }
        return new((ushort)(cylindersTimesHeads / heads), (byte)heads, (byte)sectors);
    }

    /// <summary>
    /// qemu-img create: the smallest geometry whose product holds the request (trying one more sector at a
    /// time, as qemu does, since the algorithm rounds down).
    /// </summary>
    public static VpcGeometry RoundUp(long totalSectors)
    {
        totalSectors = Math.Min(totalSectors, MaxGeometrySectors);
        var g = new VpcGeometry(0, 0, 0);
        for (long i = 0; totalSectors > g.Sectors; i++) g = For(totalSectors + i);
        return g;
    }
}
