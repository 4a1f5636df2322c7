namespace ImageTool.Formats.Vmdk;

// convert -c: workers compress grains on every core, one writer appends them (streamOptimized only; other
// subformats accept -c but store plain data, as qemu-img 7.2 does).
internal sealed partial class VmdkImage
{
    public int ClusterSize => _extents.FirstOrDefault(e => !e.IsFlat)?.GrainSize ?? 65536;

    /// <summary>True when every write is stored compressed (qemu's needs_compressed_writes): convert should use -c.</summary>
    public bool NeedsCompressedWrites => _extents.Length > 0 && _extents[0].IsCompressed;

    public int MaxCompressedLength => VmdkCompression.MaxDeflatedLength(ClusterSize);

    public int CompressCluster(ReadOnlySpan<byte> cluster, Span<byte> destination, bool qemuIdentical = false) =>
        _extents.Any(e => e.IsCompressed) ? VmdkCompression.Deflate(cluster, destination) : -1;

    public void WriteCompressedCluster(long offset, ReadOnlySpan<byte> compressed)
    {
        BlockDeviceChecks.CheckWrite(this, offset, 1);
        lock (_writeLock)
        {
            var extent = _extents[FindExtent(offset)];
            if (extent is not VmdkSparseExtent { IsCompressed: true } stream)
                throw new InvalidOperationException("Only streamOptimized extents store compressed grains");
            long rel = offset - extent.Start;
            stream.CheckStreamGrain(rel, Math.Min(stream.GrainSize, extent.Length - rel));
            stream.AppendCompressed(rel / stream.GrainSize, compressed);
            UpdateCidOnce();
        }
    }
}
