namespace ImageTool.Info;

/// <summary>What <c>img info</c> reports about one image (QAPI ImageInfo in qemu 7.2).</summary>
public sealed record ImageInfo
{
    public string Filename { get; init; } = "";
    public required string Format { get; init; }
    public required long VirtualSize { get; init; }
    /// <summary>Host bytes allocated (st_blocks * 512, summed over the image's files); null if unknown.</summary>
    public long? ActualSize { get; init; }
    public long? ClusterSize { get; init; }
    /// <summary>null when the driver reports no info (cloop); else whether the image is dirty.</summary>
    public bool? DirtyFlag { get; init; }
    public bool Encrypted { get; init; }
    public string? BackingFilename { get; init; }
    public string? FullBackingFilename { get; init; }
    public string? BackingFilenameFormat { get; init; }
    public IReadOnlyList<SnapshotInfo> Snapshots { get; init; } = [];
    /// <summary>qemu's "format-specific" union: its type and data.</summary>
    public string? FormatSpecificType { get; init; }
    public InfoObject? FormatSpecificData { get; init; }
}
