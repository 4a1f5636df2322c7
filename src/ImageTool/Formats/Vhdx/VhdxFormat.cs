using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Formats.Vhdx;

/// <summary>Microsoft's VHDX (Hyper-V), as qemu-img 7.2's vhdx driver reads and writes it.</summary>
internal sealed class VhdxFormat : IImageFormat
{
    public static readonly VhdxFormat Instance = new();

    public string Name => "vhdx";

    public int ProbeSize => 8;

    // qemu's vhdx_probe: the file type identifier's signature at offset 0.
    public int Probe(ReadOnlySpan<byte> header) => header.Length >= 8 && header[..8].SequenceEqual("vhdxfile"u8) ? 100 : 0;

    // qemu's vhdx_create_opts order, then the file protocol's.
    public IReadOnlyList<OptionSpec> CreateOptions { get; } =
    [
        new("size", OptionType.Size, "Virtual disk size; max of 64TB."),
        new("log_size", OptionType.Size, "Log size; min 1MB.", Default: "1048576"),
        new("block_size", OptionType.Size, "Block Size; min 1MB, max 256MB. 0 means auto-calculate based on image size.", Default: "0"),
        new("subformat", OptionType.String, "VHDX format type, can be either 'dynamic' or 'fixed'. Default is 'dynamic'."),
        new("block_state_zero", OptionType.Bool,
            "Force use of payload blocks of type 'ZERO'. Non-standard, but default.  Do not set to 'off' when using 'qemu-img convert' with subformat=dynamic."),
        .. FileProtocolOptions.All,
    ];

    public IImage Open(string path, OpenOptions options)
    {
        var file = HostFile.Open(path, options);
        try
        {
            return VhdxImage.Open(file, this, options);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public void Create(string path, CreateParameters parameters) => VhdxCreator.Create(path, parameters);
}
