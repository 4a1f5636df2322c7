using ImageTool.Formats;
using ImageTool.Formats.Raw;
using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Nbd;

/// <summary>
/// qemu's "nbd" protocol driver named as the image's driver (<c>--image-opts driver=nbd,...</c>, <c>-f nbd</c>):
/// the export's bytes as they are, reported as format "nbd". Never probed; a probed nbd:// URL gets the
/// format its content shows (raw, qcow2, ...) with the export as its container.
/// </summary>
internal sealed class NbdFormat : IImageFormat
{
    public static readonly NbdFormat Instance = new();

    public string Name => "nbd";
    public int ProbeSize => 0;
    public int Probe(ReadOnlySpan<byte> header) => 0;
    public IReadOnlyList<OptionSpec> CreateOptions => [];

    public IImage Open(string path, OpenOptions options) => new RawImage(HostFile.Open(path, options), this, guardBlockZero: false);

    public void Create(string path, CreateParameters parameters) =>
        throw new ImageFormatException($"Driver '{Name}' does not support image creation");
}
