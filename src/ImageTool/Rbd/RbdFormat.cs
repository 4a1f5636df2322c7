using ImageTool.Formats;
using ImageTool.Formats.Raw;
using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Rbd;

/// <summary>
/// qemu's "rbd" protocol driver named as the image's driver (<c>-f rbd</c>, <c>--image-opts driver=rbd,pool=...,image=...</c>):
/// the RBD image's bytes, reported as format "rbd". Never probed; a probed <c>rbd:</c> name gets the format its
/// content shows (raw, ...) with the RBD image as its container.
/// </summary>
internal sealed class RbdFormat : IImageFormat
{
    public static readonly OptionSpec ClusterSize = new("cluster_size", OptionType.Size, "RBD object size", Protocol: true);

    // After ClusterSize: static fields initialise in order.
    public static readonly RbdFormat Instance = new();

    public string Name => "rbd";
    public int ProbeSize => 0;
    public int Probe(ReadOnlySpan<byte> header) => 0;
    public IReadOnlyList<OptionSpec> CreateOptions { get; } = [FileProtocolOptions.Size, ClusterSize];

    public IImage Open(string path, OpenOptions options)
    {
        if (!RbdSpec.IsRbdName(path)) throw new ImageFormatException("File name must start with 'rbd:'");
        return RawVolumeImage.Open(HostFile.Open(path, options), this, guardBlockZero: false);
    }

    public void Create(string path, CreateParameters parameters)
    {
        if (!RbdSpec.IsRbdName(path)) throw new ImageFormatException("File name must start with 'rbd:'");
        RbdRemoteFile.Create(path, parameters.Size, parameters.Options.GetSize("cluster_size") ?? 0);
    }
}
