namespace ImageTool.Protocols.Vvfat;

/// <summary>
/// A file or directory as the guest's FAT describes it (name, first cluster, size, cluster chain), tied to the
/// host entry it stands for. A tree of these is the state last written back; a fresh one is read after a write.
/// </summary>
internal sealed class FatNode
{
    /// <summary>The name the FAT holds: the long name, or the short one lower-cased as qemu does.</summary>
    public required string Name { get; init; }

    public bool IsDirectory { get; init; }
    public uint Size { get; init; }
    public uint[] Chain { get; init; } = [];
    public uint FirstCluster => Chain.Length > 0 ? Chain[0] : 0;

    public FatNode? Parent { get; init; }
    public List<FatNode> Children { get; } = [];

    /// <summary>Where the short entry sits: a cluster of the parent directory and the entry's slot in it.</summary>
    public uint EntryCluster { get; init; }
    public int EntrySlot { get; init; }

    /// <summary>The host name (the root: the whole directory path), as bytes.</summary>
    public byte[] HostName { get; set; } = [];

    /// <summary>The host directory this entry sits in now (moves go through the root for a moment).</summary>
    public FatNode? HostParent { get; set; }

    public byte[] HostPath => HostParent == null ? HostName : HostDirectory.Join(HostParent.HostPath, HostName);

    public IEnumerable<FatNode> BreadthFirst()
    {
        var queue = new Queue<FatNode>([this]);
        while (queue.TryDequeue(out var node))
        {
            yield return node;
            foreach (var child in node.Children) queue.Enqueue(child);
        }
    }
}
