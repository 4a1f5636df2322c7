namespace ImageTool.Operations;

/// <summary>The operands of <c>img dd</c> (bs in bytes, count and skip in blocks).</summary>
public sealed record DdOptions(string Input, string Output, long BlockSize = 512, long? Count = null, long? Skip = null)
{
    public OpenOptions SourceOptions { get; init; } = new();
    public string OutputFormat { get; init; } = "raw";

    /// <summary>Receives progress in percent of the bytes to copy: 0 first, 100 last, once per block.</summary>
    public IProgress<double>? Progress { get; init; }
}
