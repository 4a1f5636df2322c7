namespace ImageTool.Check;

/// <summary>qemu's ImageCheck: what a check found (counts after repair) and what it fixed.</summary>
public sealed record CheckReport
{
    /// <summary>Corruptions found and not repaired.</summary>
    public int Corruptions { get; init; }
    /// <summary>Leaked clusters found and not repaired.</summary>
    public int Leaks { get; init; }
    /// <summary>Errors that stopped parts of the check (qemu's check_errors).</summary>
    public int CheckErrors { get; init; }
    /// <summary>Corruptions the repair fixed.</summary>
    public int CorruptionsFixed { get; init; }
    /// <summary>Leaked clusters the repair freed.</summary>
    public int LeaksFixed { get; init; }
    /// <summary>The offset just past the image's last used cluster (qemu's image-end-offset).</summary>
    public long ImageEndOffset { get; init; }
    /// <summary>Clusters of the virtual disk.</summary>
    public long TotalClusters { get; init; }
    /// <summary>Clusters allocated in this image.</summary>
    public long AllocatedClusters { get; init; }
    /// <summary>Allocated clusters not contiguous with the cluster before them in guest order.</summary>
    public long FragmentedClusters { get; init; }
    /// <summary>Compressed clusters.</summary>
    public long CompressedClusters { get; init; }
    /// <summary>Only "No errors were found" is printed (vmdk, vdi, ... in qemu): no statistics lines.</summary>
    public bool StatisticsUnavailable { get; init; }
}
