using ImageTool.Options;

namespace ImageTool.Formats.Vmdk;

/// <summary>VMware's VMDK as qemu-img 7.2 reads and writes it (block/vmdk.c).</summary>
internal sealed class VmdkFormat : IImageFormat
{
    public static readonly VmdkFormat Instance = new();

    public string Name => "vmdk";

    public bool SupportsCompressedWrites => true;

    // qemu 7.2 recognises a text descriptor only when "version=" lies in the first 512 bytes (verified).
    public int ProbeSize => 512;

    public int Probe(ReadOnlySpan<byte> header)
    {
        if (header.Length < 4) return 0;
        if (VmdkSparseHeader.HasMagic(header) || VmdkCowdHeader.HasMagic(header)) return 100;
        var b = header[..Math.Min(header.Length, ProbeSize)];
        int p = 0;
        while (p < b.Length)
        {
            if (b[p] == '#')
            {
                while (p < b.Length && b[p] != '\n') p++;
                p++;
                continue;
            }
            if (b[p] == ' ')
            {
                while (p < b.Length && b[p] == ' ') p++;
                if (p < b.Length && b[p] == '\r') p++;
                // Only blank lines may come before "version=".
                if (p == b.Length || b[p] != '\n') return 0;
                p++;
                continue;
            }
            var rest = b[p..];
            foreach (var version in (ReadOnlySpan<byte>)"123"u8)
            {
                if (rest.StartsWith("version="u8) && rest.Length > 9 && rest[8] == version
                    && (rest[9] == '\n' || (rest.Length > 10 && rest[9] == '\r' && rest[10] == '\n')))
                    return 100;
            }
            return 0;
        }
        return 0;
    }

    public IReadOnlyList<OptionSpec> CreateOptions { get; } =
    [
        FileProtocolOptions.Size,
        new("adapter_type", OptionType.String, "Virtual adapter type, can be one of ide (default), lsilogic, buslogic or legacyESX"),
        new("backing_file", OptionType.String, "File name of a base image"),
        new("backing_fmt", OptionType.String, "Must be 'vmdk' if present"),
        new("compat6", OptionType.Bool, "VMDK version 6 image", Default: "off"),
        new("hwversion", OptionType.String, "VMDK hardware version", Default: "undefined"),
        new("toolsversion", OptionType.String, "VMware guest tools version"),
        new("subformat", OptionType.String,
            "VMDK flat extent format, can be one of {monolithicSparse (default) | monolithicFlat | twoGbMaxExtentSparse | twoGbMaxExtentFlat | streamOptimized} "),
        new("zeroed_grain", OptionType.Bool, "Enable efficient zero writes using the zeroed-grain GTE feature"),
        .. FileProtocolOptions.All,
    ];

    public IImage Open(string path, OpenOptions options) => VmdkImage.Open(path, options, this);

    public void Create(string path, CreateParameters parameters) => VmdkCreator.Create(path, parameters);
}
