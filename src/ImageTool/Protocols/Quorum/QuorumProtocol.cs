using ImageTool.Formats;
using ImageTool.Formats.Raw;
using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Protocols.Quorum;

/// <summary>quorum named as the driver itself (<c>json:{"driver": "quorum", ...}</c>): the voted bytes as the disk.</summary>
internal sealed class QuorumProtocol : IImageFormat
{
    public static readonly QuorumProtocol Instance = new();

    private QuorumProtocol()
    {
    }

    public string Name => QuorumName.DriverName;
    public int ProbeSize => 0;
    public int Probe(ReadOnlySpan<byte> header) => 0;

    // qemu's quorum driver has no create options.
    public IReadOnlyList<OptionSpec> CreateOptions => [];

    public IImage Open(string path, OpenOptions options) =>
        new RawImage(HostFile.Open(path, options with { Format = Name }), this, guardBlockZero: false);

    public void Create(string path, CreateParameters parameters) =>
        throw new UnsupportedFeatureException($"Format driver '{Name}' does not support image creation");
}
