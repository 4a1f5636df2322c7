using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Formats.Vpc;

/// <summary>Microsoft/Connectix Virtual PC disks (VHD), as qemu-img 7.2's vpc driver reads and writes them.</summary>
internal sealed class VpcFormat : IImageFormat
{
    public static readonly VpcFormat Instance = new();

    public string Name => "vpc";

    public int ProbeSize => 8;

    // qemu's vpc_probe: the cookie at offset 0 only, so fixed disks (footer at the end only) probe as raw.
    public int Probe(ReadOnlySpan<byte> header) => VpcFooter.HasCookie(header) ? 100 : 0;

    // qemu's vpc_create_opts order, then the file protocol's.
    public IReadOnlyList<OptionSpec> CreateOptions { get; } =
    [
        FileProtocolOptions.Size,
        new("subformat", OptionType.String, "Type of virtual hard disk format. Supported formats are {dynamic (default) | fixed} "),
        new("force_size", OptionType.Bool, "Force disk size calculation to use the actual size specified, rather than using the nearest CHS-based calculation"),
        .. FileProtocolOptions.All,
    ];

    public IImage Open(string path, OpenOptions options)
    {
        var file = HostFile.Open(path, options);
        try
        {
            return VpcImage.Open(file, this, options);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// qemu's vpc_co_create: the smallest CHS geometry holding the size (or the exact size and the maximum
    /// geometry with force_size); dynamic: footer copy, dynamic header, BAT of 0xFF sectors, footer; fixed:
    /// the (sparse) data and the footer.
    /// </summary>
    public void Create(string path, CreateParameters parameters)
    {
        using var file = HostFile.Create(path);
        var options = parameters.Options;
        string subformat = options.GetString("subformat") ?? "dynamic";
        if (subformat is not ("dynamic" or "fixed"))
            throw new ImageFormatException($"Parameter 'subformat' does not accept value '{subformat}'");
        bool fixedDisk = subformat == "fixed";
        bool forceSize = options.GetBool("force_size") ?? false;
        long totalSize = (parameters.Size + 511) & ~511L;
        var geometry = forceSize ? VpcGeometry.Max : VpcGeometry.RoundUp(totalSize / 512);
        long totalSectors;
        if (geometry.Sectors == VpcGeometry.MaxGeometrySectors)
        {
            totalSectors = totalSize / 512;
            if (totalSectors > VpcGeometry.MaxSectors) throw new ImageFormatException("The image size is too large for file format 'vpc'");
        }
        else
        {
            totalSectors = geometry.Sectors;
        }
        if (!forceSize) totalSize = totalSectors * 512;
        var footer = new VpcFooter(VpcFooter.FeatureReserved, VpcFooter.Version1,
            fixedDisk ? ulong.MaxValue : 512, Timestamp(), VpcFooter.App(forceSize ? "qem2" : "qemu"), 0x00050003,
            VpcFooter.App("Wi2k"), (ulong)totalSize, (ulong)totalSize, geometry.Cylinders, geometry.Heads, geometry.SectorsPerTrack,
            fixedDisk ? VpcFooter.TypeFixed : VpcFooter.TypeDynamic, 0, Guid.NewGuid(), 0);
        var footerBytes = new byte[VpcFooter.Size];
        footer.Write(footerBytes);
        if (fixedDisk)
        {
            file.SetLength(totalSize);
            file.Write(totalSize, footerBytes);
            file.Flush();
            return;
        }
        uint blockSize = VpcDynamicHeader.DefaultBlockSize;
        long entries = (totalSectors + blockSize / 512 - 1) / (blockSize / 512);
        long batBytes = (entries * 4 + 511) & ~511L;
        const long batOffset = 3 * 512;
        var head = new byte[batOffset + batBytes + VpcFooter.Size];
        footerBytes.CopyTo(head, 0);
        new VpcDynamicHeader(ulong.MaxValue, batOffset, VpcFooter.Version1, (uint)entries, blockSize, 0, Guid.Empty, 0, "", [])
            .Write(head.AsSpan(512));
        head.AsSpan((int)batOffset, (int)batBytes).Fill(0xFF);
        footerBytes.CopyTo(head, batOffset + batBytes);
        file.Write(0, head);
        file.Flush();
    }

    /// <summary>Seconds since 2000-01-01 00:00 UTC.</summary>
    private static uint Timestamp() => (uint)(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - VpcFooter.TimestampBase);
}
