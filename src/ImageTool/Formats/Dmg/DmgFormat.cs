using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Formats.Dmg;

/// <summary>
/// Apple UDIF disk images (.dmg), read-only as in qemu (FORMATS-2.md §8). Like qemu 7.2, img recognises them only by the
/// ".dmg" file name (score 2, above raw): the koly trailer sits at the end of the file, outside the probe buffer, and
/// probing it for other names would make img disagree with qemu-img about such files.
/// </summary>
internal sealed class DmgFormat : IImageFormat
{
    public static readonly DmgFormat Instance = new();

    public string Name => "dmg";

    public int ProbeSize => 0;

    public int Probe(ReadOnlySpan<byte> header) => 0;

    // qemu's dmg_probe: a name longer than four characters ending in ".dmg".
    public int Probe(ReadOnlySpan<byte> header, string? fileName) =>
        fileName is { Length: > 4 } && fileName.EndsWith(".dmg", StringComparison.Ordinal) ? 2 : 0;

    public IReadOnlyList<OptionSpec> CreateOptions { get; } = [];

    public IImage Open(string path, OpenOptions options)
    {
        if (!options.ReadOnly) throw new ImageFormatException("Image is read-only");
        var file = HostFile.Open(path, options);
        try
        {
            return DmgImage.Open(file, this, options);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public void Create(string path, CreateParameters parameters) =>
        throw new UnsupportedFeatureException($"Format driver '{Name}' does not support image creation");
}
