using ImageTool.Options;

namespace ImageTool;

/// <summary>Everything a format needs to create an image.</summary>
/// <param name="Size">Virtual size in bytes as requested (formats round as qemu does).</param>
/// <param name="Options">Validated <c>-o</c> options (size, backing_file and backing_fmt included).</param>
/// <param name="Secrets">Secrets by id for encryption options.</param>
internal sealed record CreateParameters(long Size, ImageOptions Options, IReadOnlyDictionary<string, string>? Secrets = null)
{
    /// <summary>The <c>backing_file</c> option, if any.</summary>
    public string? BackingFile => Options.GetString("backing_file");
    /// <summary>The <c>backing_fmt</c> option, if any.</summary>
    public string? BackingFormat => Options.GetString("backing_fmt");
}
