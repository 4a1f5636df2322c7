namespace ImageTool.Capabilities;

/// <summary>
/// The bits of a persistent dirty bitmap: bit i (LSB first within each byte) covers the guest bytes
/// [i * Granularity, (i + 1) * Granularity). The array may be the image's live bitmap, which writes keep setting.
/// </summary>
/// <param name="Granularity">Bytes one bit covers.</param>
/// <param name="Bits">The bitmap, at least one bit per granule of the image.</param>
internal sealed record BitmapContents(long Granularity, byte[] Bits)
{
    /// <summary>Whether the byte at <paramref name="offset"/> is dirty.</summary>
    public bool IsDirty(long offset)
    {
        long bit = offset / Granularity;
        return (bit >> 3) < Bits.Length && (Bits[bit >> 3] & (1 << (int)(bit & 7))) != 0;
    }

    /// <summary>How far from <paramref name="offset"/> (at most <paramref name="limit"/> bytes) the dirty state stays the same.</summary>
    public long Run(long offset, long limit)
    {
        bool dirty = IsDirty(offset);
        long at = (offset / Granularity + 1) * Granularity;
        while (at - offset < limit && IsDirty(at) == dirty) at += Granularity;
        return Math.Min(at - offset, limit);
    }
}
