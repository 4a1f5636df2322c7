namespace ImageTool.Capabilities;

/// <summary>
/// A format that stores whole clusters compressed (qcow2, qcow, vmdk streamOptimized). <c>convert -c</c>
/// compresses on every core with <see cref="CompressCluster"/> and one writer stores the results in order.
/// </summary>
internal interface ICompressedClusterWriter
{
    /// <summary>The unit that is compressed; convert hands over whole, aligned clusters.</summary>
    int ClusterSize { get; }

    /// <summary>The longest stored form <see cref="CompressCluster"/> writes: the destination size a caller provides.</summary>
    int MaxCompressedLength => ClusterSize - 1;

    /// <summary>
    /// Pure and thread-safe: writes the stored form of one cluster into <paramref name="destination"/> (at least
    /// <see cref="MaxCompressedLength"/> bytes) and returns its length, or -1 when it does not shrink (stored plainly then).
    /// </summary>
    /// <param name="cluster">One whole cluster.</param>
    /// <param name="destination">Where the stored form goes.</param>
    /// <param name="qemuIdentical">
    /// Deflate exactly as qemu-img does (the system zlib at its settings); false lets a format use a faster encoder
    /// whose different bytes qemu reads all the same (ISA-L for qcow and qcow2 zlib clusters, where installed).
    /// </param>
    int CompressCluster(ReadOnlySpan<byte> cluster, Span<byte> destination, bool qemuIdentical = false);

    /// <summary>Stores what <see cref="CompressCluster"/> wrote for the cluster at <paramref name="offset"/>; called by one writer.</summary>
    void WriteCompressedCluster(long offset, ReadOnlySpan<byte> compressed);

    /// <summary>Every write must go through compression (qemu's needs_compressed_writes: vmdk streamOptimized); convert then acts as with -c.</summary>
    bool NeedsCompressedWrites => false;
}
