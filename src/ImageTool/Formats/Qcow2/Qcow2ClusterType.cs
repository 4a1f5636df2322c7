namespace ImageTool.Formats.Qcow2;

/// <summary>What a guest cluster's L2 entry says (qemu's QCow2ClusterType).</summary>
internal enum Qcow2ClusterType
{
    /// <summary>Not stored here: reads fall through to the backing file (or zeros).</summary>
    Unallocated,
    /// <summary>Zero flag without a host cluster.</summary>
    ZeroPlain,
    /// <summary>Zero flag on a host cluster that stays allocated (preallocated zeros).</summary>
    ZeroAlloc,
    Normal,
    Compressed,
}
