namespace ImageTool.Formats;

/// <summary>qemu's rule for backing names: relative names are joined to the overlay's directory, textually.</summary>
internal static class BackingPath
{
    /// <exception cref="ImageFormatException">The overlay has no directory to join a relative name to (quorum).</exception>
    public static string Resolve(string overlayPath, string backingName)
    {
        // A name with a protocol prefix (nbd://, json:{...}, file:...) stands as it is, as in qemu.
        if (Path.IsPathRooted(backingName) || IO.HostPath.ProtocolPrefix(backingName) != null) return backingName;
        return Directory(overlayPath) + backingName;
    }

    /// <summary>As <see cref="Resolve"/>, or null where qemu reports "cannot determine actual path".</summary>
    public static string? TryResolve(string overlayPath, string backingName)
    {
        try { return Resolve(overlayPath, backingName); }
        catch (ImageFormatException) { return null; }
    }

    /// <summary>qemu's bdrv_dirname: the directory part of a node's name, slash included ("" for none).</summary>
    /// <exception cref="ImageFormatException">A quorum node, which has no directory.</exception>
    public static string Directory(string overlayPath)
    {
        if (Protocols.Quorum.QuorumName.Is(overlayPath)) throw new ImageFormatException(Protocols.Quorum.QuorumName.NoDirectory);
        // qemu's bdrv_dirname passes through filters: blkdebug's directory is its image's.
        if (Protocols.Blkdebug.BlkdebugNode.IsBlkdebugName(overlayPath) && overlayPath.IndexOf(':', 9) >= 0)
            overlayPath = Protocols.Blkdebug.BlkdebugNode.ParseName(overlayPath).Image;
        int slash = overlayPath.LastIndexOf('/');
        return slash < 0 ? "" : overlayPath[..(slash + 1)];
    }
}
