namespace ImageTool.Operations;

/// <summary>What <c>img commit</c> was asked for.</summary>
public sealed record CommitOptions
{
    /// <summary>Format of the top image; null probes it.</summary>
    public string? Format { get; init; }
    /// <summary>-b: the image of the chain to commit into (default: the direct backing file).</summary>
    public string? Base { get; init; }
    /// <summary>-d: keep the top image's data (implied by -b).</summary>
    public bool Drop { get; init; }
    /// <summary>Secrets by id, for encrypted images.</summary>
    public IReadOnlyDictionary<string, string>? Secrets { get; init; }
    /// <summary>Receives qemu's warnings.</summary>
    public Action<ImageWarning>? Warning { get; init; }
    /// <summary>Receives progress in percent (qemu's -p): 0 first, 100 last, as often as a chunk is copied.</summary>
    public IProgress<double>? Progress { get; init; }
}
