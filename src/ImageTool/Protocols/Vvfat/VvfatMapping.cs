namespace ImageTool.Protocols.Vvfat;

/// <summary>
/// A run of clusters [Begin, End) and what fills it: a host file from its start, or a directory's entries from
/// <see cref="FirstEntry"/> of the directory table. Runs are laid out one after another in this list's order.
/// </summary>
internal sealed class VvfatMapping(byte[] path, bool isDirectory, int parent)
{
    public byte[] Path { get; } = path;
    public bool IsDirectory { get; } = isDirectory;

    /// <summary>The mapping of the directory this one sits in; -1 for the root.</summary>
    public int Parent { get; } = parent;

    public uint Begin { get; set; }
    public uint End { get; set; }

    /// <summary>The short directory entry that names this file or directory (0, the volume label, for the root).</summary>
    public int EntryIndex { get; init; }

    /// <summary>A directory's first entry in the directory table.</summary>
    public int FirstEntry { get; set; }

    /// <summary>A file's size in bytes.</summary>
    public long Size { get; init; }
}
