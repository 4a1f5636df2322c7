using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Formats.Bochs;

/// <summary>Bochs growing ("Redolog"/"Growing") images, read-only as in qemu (FORMATS-2.md §7).</summary>
internal sealed class BochsFormat : IImageFormat
{
    public static readonly BochsFormat Instance = new();

    public string Name => "bochs";

    public int ProbeSize => BochsHeader.Size;

    public int Probe(ReadOnlySpan<byte> header) => BochsHeader.Matches(header) ? 100 : 0;

    public IReadOnlyList<OptionSpec> CreateOptions { get; } = [];

    public IImage Open(string path, OpenOptions options)
    {
        // qemu's bochs driver is read-only: opening it for writing fails before the file is read.
        if (!options.ReadOnly) throw new ImageFormatException("Image is read-only");
        var file = HostFile.Open(path, options);
        try
        {
            return BochsImage.Open(file, this);
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
