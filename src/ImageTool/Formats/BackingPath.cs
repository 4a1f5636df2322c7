namespace ImageTool.Formats;

/// <summary>qemu's rule for backing names: relative names are joined to the overlay's directory, textually.</summary>
internal static class BackingPath
{
    public static string Resolve(string overlayPath, string backingName)
    {
        // A name with a protocol prefix (nbd://, json:{...}, file:...) stands as it is, as in qemu.
        if (Path.IsPathRooted(backingName) || IO.HostPath.ProtocolPrefix(backingName) != null) return backingName;
        // qemu's bdrv_dirname passes through filters: blkdebug's directory is its image's.
        if (Protocols.Blkdebug.BlkdebugNode.IsBlkdebugName(overlayPath) && overlayPath.IndexOf(':', 9) >= 0)
            overlayPath = Protocols.Blkdebug.BlkdebugNode.ParseName(overlayPath).Image;
        int slash = overlayPath.LastIndexOf('/');
        return slash < 0 ? backingName : overlayPath[..(slash + 1)] + backingName;
    }
}
