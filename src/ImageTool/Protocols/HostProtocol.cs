using ImageTool.Formats;
using ImageTool.Formats.Raw;
using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Protocols;

/// <summary>
/// qemu's file-posix protocol drivers named as a format (<c>-f host_device</c>, <c>--image-opts
/// driver=host_device,filename=/dev/sdb</c>): the file's bytes as the disk, reported under the protocol's name.
/// Never probed: a device opened by name is the host_device protocol with its format probed on top.
/// </summary>
internal sealed class HostProtocol : IImageFormat
{
    public static readonly HostProtocol File = new("file", FileProtocolOptions.All);
    public static readonly HostProtocol HostDevice = new("host_device", [DevicePreallocation]);
    public static readonly HostProtocol HostCdrom = new("host_cdrom", [DevicePreallocation]);

    private static OptionSpec DevicePreallocation => new("preallocation", OptionType.String, "Preallocation mode (allowed values: off)");

    private HostProtocol(string name, IReadOnlyList<OptionSpec> options)
    {
        Name = name;
        CreateOptions = [FileProtocolOptions.Size, .. options];
    }

    public string Name { get; }
    public int ProbeSize => 0;
    public int Probe(ReadOnlySpan<byte> header) => 0;
    public IReadOnlyList<OptionSpec> CreateOptions { get; }

    public IImage Open(string path, OpenOptions options) =>
        new RawImage(HostFile.Open(path, options with { Format = Name }), this, guardBlockZero: false);

    public void Create(string path, CreateParameters parameters)
    {
        string mode = parameters.Options.GetString("preallocation") ?? "off";
        if (this != File && mode != "off") throw new ImageFormatException($"invalid parameter value: {mode}");
        if (this != File) HostFile.CheckProtocol(path, Name);
        RawFormat.Instance.Create(path, parameters);
    }
}
