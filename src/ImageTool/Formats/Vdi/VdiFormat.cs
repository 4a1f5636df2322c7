using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Formats.Vdi;

/// <summary>VirtualBox disk images (qemu block/vdi.c): dynamic or static, 1 MiB blocks, no backing files.</summary>
internal sealed class VdiFormat : IImageFormat
{
    public static readonly VdiFormat Instance = new();

    public string Name => "vdi";

    public int ProbeSize => VdiHeader.Size;

    // qemu's vdi_probe: the signature at 0x40 (its probe buffer is zero-padded past a short file's end).
    public int Probe(ReadOnlySpan<byte> header) => VdiHeader.HasSignature(header) ? 100 : 0;

    // qemu's vdi_create_opts order, then the file protocol's.
    public IReadOnlyList<OptionSpec> CreateOptions { get; } =
    [
        FileProtocolOptions.Size,
        new("static", OptionType.Bool, "VDI static (pre-allocated) image", Default: "off"),
        .. FileProtocolOptions.All,
    ];

    public IImage Open(string path, OpenOptions options)
    {
        var file = HostFile.Open(path, options.ReadOnly);
        try
        {
            return VdiImage.Open(file, this);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// qemu's vdi_co_do_create: size rounded up to 512, one map entry per 1 MiB block (0xffffffff, or 0, 1, 2, ...
    /// for a static image, which is then extended sparse to its full length), the map padded to a sector.
    /// </summary>
    public void Create(string path, CreateParameters parameters)
    {
        ProtocolPreallocation.Validate(parameters.Options);
        bool isStatic = parameters.Options.GetBool("static") ?? false;
        ulong size = ((ulong)parameters.Size + 511) & ~511UL;
        if (size > VdiHeader.MaxDiskSize)
            throw new UnsupportedFeatureException($"Unsupported VDI image size (size is 0x{size:x}, max supported is 0x{VdiHeader.MaxDiskSize:x})");
        uint blocks = (uint)((size + VdiHeader.DefaultBlockSize - 1) / VdiHeader.DefaultBlockSize);
        long bmapBytes = ((long)blocks * 4 + 511) & ~511L;
        if (bmapBytes > Array.MaxLength - VdiHeader.Size) throw new ImageFormatException("Could not allocate bmap");
        uint type = isStatic ? VdiHeader.TypeStatic : VdiHeader.TypeDynamic;
        var image = new byte[VdiHeader.Size + bmapBytes];
        VdiHeader.ForCreate(type, size, blocks, (uint)bmapBytes).CopyTo(image, 0);
        var map = image.AsSpan(VdiHeader.Size);
        for (uint i = 0; i < blocks; i++)
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(map[(int)(i * 4)..], isStatic ? i : VdiHeader.Unallocated);
        using var file = HostFile.Create(path);
        file.Write(0, image);
        if (isStatic) file.SetLength(image.Length + (long)blocks * VdiHeader.DefaultBlockSize);
        file.Flush();
    }
}
