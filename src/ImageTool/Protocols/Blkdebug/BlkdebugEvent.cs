namespace ImageTool.Protocols.Blkdebug;

/// <summary>
/// The points in a format driver that qemu's blkdebug rules can hook (qapi's BlkdebugEvent), by qemu's names.
/// Formats report the ones img has through <see cref="IO.HostFile.DebugEvent"/>.
/// </summary>
internal static class BlkdebugEvent
{
    public const string L1Update = "l1_update";
    public const string L2Load = "l2_load";
    public const string L2Update = "l2_update";
    public const string ReadAio = "read_aio";
    public const string ReadBackingAio = "read_backing_aio";
    public const string ReadCompressed = "read_compressed";
    public const string WriteAio = "write_aio";
    public const string WriteCompressed = "write_compressed";
    public const string RefblockUpdate = "refblock_update";
    public const string ReftableUpdate = "reftable_update";
    public const string RefblockAlloc = "refblock_alloc";
    public const string ClusterAlloc = "cluster_alloc";
    public const string ClusterFree = "cluster_free";
    public const string FlushToOs = "flush_to_os";
    public const string FlushToDisk = "flush_to_disk";
    public const string EmptyImagePrepare = "empty_image_prepare";

    /// <summary>Rules on this event are armed when the blkdebug node opens.</summary>
    public const string None = "none";

    /// <summary>Every name qemu 7.2 accepts in a rule.</summary>
    public static readonly HashSet<string> Names =
    [
        "l1_update", "l1_grow.alloc_table", "l1_grow.write_table", "l1_grow.activate_table", "l2_load", "l2_update",
        "l2_update_compressed", "l2_alloc.cow_read", "l2_alloc.write", "read_aio", "read_backing_aio",
        "read_compressed", "write_aio", "write_compressed", "vmstate_load", "vmstate_save", "cow_read", "cow_write",
        "reftable_load", "reftable_grow", "reftable_update", "refblock_load", "refblock_update",
        "refblock_update_part", "refblock_alloc", "refblock_alloc.hookup", "refblock_alloc.write",
        "refblock_alloc.write_blocks", "refblock_alloc.write_table", "refblock_alloc.switch_table", "cluster_alloc",
        "cluster_alloc_bytes", "cluster_free", "flush_to_os", "flush_to_disk", "pwritev_rmw.head",
        "pwritev_rmw.after_head", "pwritev_rmw.tail", "pwritev_rmw.after_tail", "pwritev", "pwritev_zero",
        "pwritev_done", "empty_image_prepare", "l1_shrink.write_table", "l1_shrink.free_l2_clusters", "cor_write",
        "cluster_alloc_space", "none",
    ];
}
