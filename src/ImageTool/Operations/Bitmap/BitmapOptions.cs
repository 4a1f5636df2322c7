namespace ImageTool.Operations;

/// <summary>What <c>img bitmap</c> was asked for besides its actions.</summary>
public sealed record BitmapOptions
{
    /// <summary>How to open the image (format, secrets, ...).</summary>
    public OpenOptions Open { get; init; } = new();
    /// <summary>-g for --add; null takes qemu's default.</summary>
    public long? Granularity { get; init; }
    /// <summary>-b: the image holding the merge sources (default: the target image itself).</summary>
    public string? SourceFile { get; init; }
    /// <summary>-F: the format of <see cref="SourceFile"/>.</summary>
    public string? SourceFormat { get; init; }
}
