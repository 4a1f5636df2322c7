namespace ImageTool.Formats;

/// <summary>
/// The block driver names qemu-img 7.2 (Debian's build) accepts where it names a driver, such as a backing format
/// recorded at create time. qemu checks them even when the backing file is not opened (create -u).
/// </summary>
internal static class QemuDriverNames
{
    /// <summary>qemu's BlockdevDriver enumeration as built (no io_uring or libblkio drivers).</summary>
    private static readonly HashSet<string> BlockdevDrivers =
    [
        "blkdebug", "blklogwrites", "blkreplay", "blkverify", "bochs", "cloop", "compress", "copy-before-write",
        "copy-on-read", "dmg", "file", "snapshot-access", "ftp", "ftps", "gluster", "host_cdrom", "host_device",
        "http", "https", "iscsi", "luks", "nbd", "nfs", "null-aio", "null-co", "nvme", "parallels", "preallocate",
        "qcow", "qcow2", "qed", "quorum", "raw", "rbd", "replication", "ssh", "throttle", "vdi", "vhdx", "vmdk",
        "vpc", "vvfat",
    ];

    // qemu's names, and the formats img opens that qemu 7.2 no longer has (cow).
    private static bool Known(string format) => BlockdevDrivers.Contains(format) || FormatRegistry.Find(format) != null;

    /// <summary>QAPI-based creators (qcow2, qed): a backing format outside the enumeration is refused.</summary>
    public static void ValidateBackingFormat(string? format)
    {
        if (format != null && !Known(format))
            throw new ImageFormatException($"Parameter 'backing-fmt' does not accept value '{format}'");
    }

    /// <summary>qcow's creator looks the name up among the registered drivers (blkreplay is not one of them).</summary>
    public static void ValidateLegacyBackingFormat(string? format)
    {
        if (format != null && (format == "blkreplay" || !Known(format)))
            throw new ImageFormatException($"unrecognized backing format '{format}'");
    }
}
