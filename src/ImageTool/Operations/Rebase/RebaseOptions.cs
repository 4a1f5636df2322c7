namespace ImageTool.Operations;

/// <summary>What <c>img rebase</c> is asked to do.</summary>
/// <param name="Path">The overlay to rebase.</param>
/// <param name="NewBacking">-b: the new backing file name as it will be stored; "" (or null with -u) detaches.</param>
public sealed record RebaseOptions(string Path, string? NewBacking)
{
    /// <summary>-f: the overlay's format; null probes it.</summary>
    public string? Format { get; init; }
    /// <summary>-F: format of the new backing file.</summary>
    public string? NewBackingFormat { get; init; }
    /// <summary>-u: only rewrite the header; the old backing file need not exist.</summary>
    public bool Unsafe { get; init; }
    /// <summary>-U: open without taking qemu's shared locks.</summary>
    public bool ForceShare { get; init; }
    /// <summary>Secrets by id, for encrypted images.</summary>
    public IReadOnlyDictionary<string, string>? Secrets { get; init; }
    /// <summary>Receives qemu's warnings.</summary>
    public Action<ImageWarning>? Warning { get; init; }
    /// <summary>Receives progress in percent (-p): 0 first, 100 last.</summary>
    public IProgress<double>? Progress { get; init; }
}
