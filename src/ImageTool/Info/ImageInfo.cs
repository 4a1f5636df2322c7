using System.Text.Json.Nodes;

namespace ImageTool.Info;

/// <summary>What <c>img info</c> reports about one image (QAPI ImageInfo in qemu 7.2).</summary>
public sealed record ImageInfo
{
    /// <summary>The image's name as given (or as the backing chain names it).</summary>
    public string Filename { get; init; } = "";
    /// <summary>The format's name.</summary>
    public required string Format { get; init; }
    /// <summary>Virtual disk size in bytes.</summary>
    public required long VirtualSize { get; init; }
    /// <summary>Host bytes allocated (st_blocks * 512, summed over the image's files); null if unknown.</summary>
    public long? ActualSize { get; init; }
    /// <summary>Cluster (block, grain) size in bytes, for formats that have one.</summary>
    public long? ClusterSize { get; init; }
    /// <summary>null when the driver reports no info (cloop); else whether the image is dirty.</summary>
    public bool? DirtyFlag { get; init; }
    /// <summary>The image is encrypted.</summary>
    public bool Encrypted { get; init; }
    /// <summary>The backing file name as stored in the image.</summary>
    public string? BackingFilename { get; init; }
    /// <summary>The backing file name resolved against the image's directory.</summary>
    public string? FullBackingFilename { get; init; }
    /// <summary>The backing file's format as stored in the image.</summary>
    public string? BackingFilenameFormat { get; init; }
    /// <summary>Internal snapshots, in table order.</summary>
    public IReadOnlyList<SnapshotInfo> Snapshots { get; init; } = [];
    /// <summary>qemu's "format-specific" union: its type and data.</summary>
    public string? FormatSpecificType { get; init; }
    /// <summary>The data of <see cref="FormatSpecificType"/> as qemu's JSON reports it (a new copy on each read).</summary>
    public JsonObject? FormatSpecific => FormatSpecificData?.ToJson() as JsonObject;

    internal InfoObject? FormatSpecificData { get; init; }
}
