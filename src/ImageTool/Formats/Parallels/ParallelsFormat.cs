using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Formats.Parallels;

/// <summary>Parallels / OpenVZ ploop images (qemu block/parallels.c, docs/interop/parallels.txt).</summary>
internal sealed class ParallelsFormat : IImageFormat
{
    public static readonly ParallelsFormat Instance = new();

    public string Name => "parallels";

    public int ProbeSize => ParallelsHeader.Size;

    // qemu's parallels_probe: either magic and version 2 (its probe buffer is zero-padded past a short file's end).
    public int Probe(ReadOnlySpan<byte> header) =>
        header.Length >= 20 && ParallelsHeader.HasMagic(header)
        && System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(header[16..]) == ParallelsHeader.ExpectedVersion ? 100 : 0;

    // qemu's parallels_create_opts order, then the file protocol's.
    public IReadOnlyList<OptionSpec> CreateOptions { get; } =
    [
        FileProtocolOptions.Size,
        new("cluster_size", OptionType.Size, "Parallels image cluster size", Default: "1048576"),
        .. FileProtocolOptions.All,
    ];

    public IImage Open(string path, OpenOptions options)
    {
        var file = HostFile.Open(path, options.ReadOnly);
        try
        {
            return ParallelsImage.Open(file, this, options);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// qemu's parallels_co_create: sizes rounded up to 512, the new magic, 16 heads, the BAT right after the
    /// header, padded (with written zeros) to whole clusters; data_off points past it.
    /// </summary>
    public void Create(string path, CreateParameters parameters)
    {
        ProtocolPreallocation.Validate(parameters.Options);
        ulong size = ((ulong)parameters.Size + 511) & ~511UL;
        long requested = parameters.Options.GetSize("cluster_size") ?? ParallelsHeader.DefaultClusterSize;
        ulong cluster = ((ulong)requested + 511) & ~511UL;
        if (cluster >= long.MaxValue / ParallelsHeader.MaxImageFactor) throw new ImageFormatException("Cluster size is too large");
        if (cluster == 0 || size >= ParallelsHeader.MaxImageFactor * cluster)
            throw new ImageFormatException("Image size is too large for this cluster size");
        ulong batEntries = (size + cluster - 1) / cluster;
        ulong headerBytes = ParallelsHeader.Size + batEntries * 4;
        ulong dataSectors = (headerBytes + cluster - 1) / cluster * cluster / 512;
        if (batEntries > int.MaxValue / 4 || dataSectors > uint.MaxValue)
            throw new ImageFormatException("Image size is too large for this cluster size");
        var header = new ParallelsHeader(true, ParallelsHeader.ExpectedVersion, ParallelsHeader.HeadsNumber,
            (uint)(size / 512 / ParallelsHeader.HeadsNumber / ParallelsHeader.SectorsPerCylinder), (uint)(cluster / 512),
            (uint)batEntries, size / 512, 0, (uint)dataSectors, 0, 0);
        var head = new byte[512];
        header.Write(head);
        using var file = HostFile.Create(path);
        file.Write(0, head);
        long total = (long)dataSectors * 512;
        var zeros = new byte[(int)Math.Min(total, 1 << 20)];
        for (long at = 512; at < total; at += zeros.Length)
            file.Write(at, zeros.AsSpan(0, (int)Math.Min(zeros.Length, total - at)));
        file.Flush();
    }
}
