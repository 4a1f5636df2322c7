namespace ImageTool;

/// <summary>
/// A format that stores whole clusters compressed (qcow2, qcow, vmdk streamOptimized). <c>convert -c</c>
/// compresses on every core with <see cref="CompressCluster"/> and one writer stores the results in order.
/// </summary>
public interface ICompressedClusterWriter
{
    /// <summary>The unit that is compressed; convert hands over whole, aligned clusters.</summary>
    int ClusterSize { get; }

    /// <summary>Pure and thread-safe: the stored form of one cluster, or null when it does not shrink (stored plainly then).</summary>
    byte[]? CompressCluster(ReadOnlySpan<byte> cluster);

    /// <summary>Stores what <see cref="CompressCluster"/> returned for the cluster at <paramref name="offset"/>; called by one writer.</summary>
    void WriteCompressedCluster(long offset, ReadOnlySpan<byte> compressed);

    /// <summary>Every write must go through compression (qemu's needs_compressed_writes: vmdk streamOptimized); convert then acts as with -c.</summary>
    bool NeedsCompressedWrites => false;
}
