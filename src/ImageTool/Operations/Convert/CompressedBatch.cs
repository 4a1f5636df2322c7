namespace ImageTool.Operations;

/// <summary>
/// convert -c's unit of work: a run of whole source clusters and, after <see cref="Compress"/>, the stored form of
/// each in a buffer of its own. Reused from batch to batch, so compressing allocates nothing per cluster.
/// </summary>
internal sealed class CompressedBatch(int clusters, int clusterSize, int maxStored)
{
    /// <summary>A <see cref="Lengths"/> value: the cluster is all zeros and is not written.</summary>
    public const int ZeroCluster = 0;

    /// <summary>A <see cref="Lengths"/> value: the cluster did not shrink and is written plainly.</summary>
    public const int Plain = -1;

    public int ClusterSize { get; } = clusterSize;
    public byte[] Data { get; } = new byte[(long)clusters * clusterSize];
    public int[] Lengths { get; } = new int[clusters];
    private readonly byte[] _stored = new byte[(long)clusters * maxStored];

    /// <summary>Source offset of the first cluster.</summary>
    public long Start { get; set; }

    /// <summary>Source bytes in the batch (the last batch of an image may end inside a cluster).</summary>
    public int Bytes { get; set; }

    public int Count => (Bytes + ClusterSize - 1) / ClusterSize;

    public ReadOnlySpan<byte> StoredCluster(int i) => _stored.AsSpan(i * maxStored, Lengths[i]);

    /// <summary>Runs on a worker: zero check and compression of every cluster.</summary>
    public void Compress(ICompressedClusterWriter writer, bool qemuIdentical)
    {
        for (int i = 0; i < Count; i++)
        {
            var data = Data.AsSpan(i * ClusterSize, ClusterSize);
            Lengths[i] = !data.ContainsAnyExcept((byte)0) ? ZeroCluster
                : writer.CompressCluster(data, _stored.AsSpan(i * maxStored, maxStored), qemuIdentical) is > 0 and var n ? n : Plain;
        }
    }
}
