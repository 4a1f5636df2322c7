namespace ImageTool.Operations;

/// <summary>The operands of <c>img dd</c> (bs in bytes, count and skip in blocks).</summary>
/// <param name="Input">if=: the source image.</param>
/// <param name="Output">of=: the image to create.</param>
/// <param name="BlockSize">bs=: bytes per block.</param>
/// <param name="Count">count=: blocks to copy; null copies to the end.</param>
/// <param name="Skip">skip=: blocks of the input to skip.</param>
public sealed record DdOptions(string Input, string Output, long BlockSize = 512, long? Count = null, long? Skip = null)
{
    /// <summary>How to open the input (-f, --image-opts, secrets).</summary>
    public OpenOptions SourceOptions { get; init; } = new();
    /// <summary>-O: the output's format.</summary>
    public string OutputFormat { get; init; } = "raw";

    /// <summary>Receives progress in percent of the bytes to copy: 0 first, 100 last, once per block.</summary>
    public IProgress<double>? Progress { get; init; }
}
