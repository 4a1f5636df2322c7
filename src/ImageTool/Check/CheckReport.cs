namespace ImageTool.Check;

/// <summary>qemu's ImageCheck: what a check found (counts after repair) and what it fixed.</summary>
public sealed record CheckReport
{
    public int Corruptions { get; init; }
    public int Leaks { get; init; }
    public int CheckErrors { get; init; }
    public int CorruptionsFixed { get; init; }
    public int LeaksFixed { get; init; }
    public long ImageEndOffset { get; init; }
    public long TotalClusters { get; init; }
    public long AllocatedClusters { get; init; }
    public long FragmentedClusters { get; init; }
    public long CompressedClusters { get; init; }
    /// <summary>Only "No errors were found" is printed (vmdk, vdi, ... in qemu): no statistics lines.</summary>
    public bool StatisticsUnavailable { get; init; }
}
