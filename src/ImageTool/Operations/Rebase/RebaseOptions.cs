namespace ImageTool.Operations;

/// <summary>What <c>img rebase</c> is asked to do.</summary>
/// <param name="Path">The overlay to rebase.</param>
/// <param name="NewBacking">-b: the new backing file name as it will be stored; "" (or null with -u) detaches.</param>
public sealed record RebaseOptions(string Path, string? NewBacking)
{
    public string? Format { get; init; }
    /// <summary>-F: format of the new backing file.</summary>
    public string? NewBackingFormat { get; init; }
    /// <summary>-u: only rewrite the header; the old backing file need not exist.</summary>
    public bool Unsafe { get; init; }
    public bool ForceShare { get; init; }
    public IReadOnlyDictionary<string, string>? Secrets { get; init; }
    public Action<ImageWarning>? Warning { get; init; }
    public IProgress<double>? Progress { get; init; }
}
