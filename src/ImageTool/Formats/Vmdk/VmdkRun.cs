namespace ImageTool.Formats.Vmdk;

/// <summary>What a range of an extent maps to (qemu's get_cluster_offset results).</summary>
internal enum VmdkRunKind
{
    /// <summary>No grain: the parent decides, or zeros.</summary>
    Unallocated,
    /// <summary>A zeroed grain (GTE 1 with the zeroed-grain flag): zeros, the parent is not consulted.</summary>
    Zero,
    /// <summary>Plain data at <see cref="VmdkRun.HostOffset"/> of the extent file.</summary>
    Data,
    /// <summary>One compressed grain whose marker (or data) starts at <see cref="VmdkRun.HostOffset"/>.</summary>
    Compressed,
}

/// <summary>A run of an extent with one mapping; Data runs are contiguous in the file.</summary>
internal readonly record struct VmdkRun(VmdkRunKind Kind, long Length, long HostOffset = 0);
