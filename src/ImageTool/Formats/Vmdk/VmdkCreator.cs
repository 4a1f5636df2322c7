using System.Buffers.Binary;
using System.Text;
using ImageTool.Formats.Raw;
using ImageTool.IO;

namespace ImageTool.Formats.Vmdk;

/// <summary>qemu-img create -f vmdk: the same files, layouts and descriptor bytes as qemu's vmdk_co_create_opts.</summary>
internal static class VmdkCreator
{
    private static readonly string[] AdapterTypes = ["ide", "buslogic", "lsilogic", "legacyESX"];
    private static readonly string[] Subformats =
        ["monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat", "streamOptimized"];

    /// <summary>VMDK's constant split size for the twoGbMaxExtent subformats.</summary>
    private const long SplitSize = 0x80000000;

    private const int GrainSectors = 128;
    private const int GtesPerGt = 512;
    private const int DescriptorSector = 1;
    private const int DescriptorSectors = 20;

    public static void Create(string path, CreateParameters parameters)
    {
        var o = parameters.Options;
        if (o.GetString("backing_fmt") is { } backingFormat && backingFormat != "vmdk")
            throw new ImageFormatException("backing_file must be a vmdk image");
        if (parameters.Size > long.MaxValue - 511) throw new ImageFormatException("The image size is too large for file format 'vmdk'");
        long size = (parameters.Size + 511) & ~511L;
        string adapter = o.GetString("adapter_type") ?? "ide";
        if (!AdapterTypes.Contains(adapter)) throw new ImageFormatException($"invalid parameter value: {adapter}");
        string? backing = o.GetString("backing_file");
        string? hwVersion = o.GetString("hwversion");
        if (hwVersion == "undefined") hwVersion = null;
        string toolsVersion = o.GetString("toolsversion") ?? "2147483647";
        bool compat6 = o.GetBool("compat6") ?? false;
        string subformat = o.GetString("subformat") ?? "monolithicSparse";
        if (!Subformats.Contains(subformat)) throw new ImageFormatException($"invalid parameter value: {subformat}");
        bool zeroedGrain = o.GetBool("zeroed_grain") ?? false;

        if (compat6)
        {
            if (hwVersion != null) throw new ImageFormatException("compat6 cannot be enabled with hwversion set");
            hwVersion = "6";
        }
        hwVersion ??= "4";
        // VMware uses 255 heads for every adapter but IDE.
        int heads = adapter == "ide" ? 16 : 255;
        bool split = subformat is "twoGbMaxExtentSparse" or "twoGbMaxExtentFlat";
        bool flat = subformat is "monolithicFlat" or "twoGbMaxExtentFlat";
        bool compress = subformat == "streamOptimized";
        if (flat && backing != null) throw new UnsupportedFeatureException("Flat image can't have backing file");
        if (flat && zeroedGrain) throw new UnsupportedFeatureException("Flat image can't enable zeroed grain");

        uint parentCid = VmdkDescriptor.NoParent;
        if (backing != null) parentCid = ReadParentCid(BackingPath.Resolve(path, backing));

        int slash = path.LastIndexOf('/');
        string directory = slash < 0 ? "" : path[..(slash + 1)];
        string name = path[(slash + 1)..];
        int dot = name.LastIndexOf('.');
        string prefix = dot < 0 ? name : name[..dot];
        string postfix = dot < 0 ? "" : name[dot..];

        string lineFormat = flat ? "RW {0} FLAT \"{1}\" 0" : "RW {0} SPARSE \"{1}\"";
        var lines = new List<string>();
        using var file = HostFile.Create(path);
        if (!split && !flat)
        {
            InitSparseExtent(file, size, compress, zeroedGrain);
            lines.Add(Line(lineFormat, size, name));
        }
        else
        {
            long extentSize = split ? SplitSize : size;
            int index = 1;
            for (long created = 0; created < size; index++)
            {
                long current = Math.Min(size - created, extentSize);
                string extentName = split
                    ? $"{prefix}-{(flat ? 'f' : 's')}{index:000}{postfix}"
                    : $"{prefix}-flat{postfix}";
                using (var extent = HostFile.Create(directory + extentName))
                {
                    if (flat) RawFormat.CreateOnFile(extent, current, "off");
                    else InitSparseExtent(extent, current, compress, zeroedGrain);
                }
                lines.Add(Line(lineFormat, current, extentName));
                created += current;
            }
        }

        string text = VmdkDescriptor.Render((uint)Random.Shared.NextInt64(0, 1L << 32), parentCid, subformat, backing, lines,
            hwVersion, size / (63L * heads * 512), heads, adapter, toolsVersion);
        var bytes = Encoding.Latin1.GetBytes(text);
        if (!split && !flat)
        {
            if (bytes.Length > DescriptorSectors * 512) throw new ImageFormatException("Descriptor too long");
            file.Write(DescriptorSector * 512, bytes);
        }
        else
        {
            file.Write(0, bytes);
            file.SetLength(bytes.Length);
        }
        file.Flush();
    }

    private static string Line(string format, long bytes, string fileName) =>
        string.Format(System.Globalization.CultureInfo.InvariantCulture, format, (bytes + 511) / 512, fileName);

    /// <summary>The parent must open as VMDK (probed, as qemu does); its current CID becomes our parentCID.</summary>
    private static uint ReadParentCid(string parentPath)
    {
        using var parent = FormatRegistry.OpenSingle(parentPath, new OpenOptions { ReadOnly = true, OpenBacking = false, ForceShare = true });
        if (parent is not VmdkImage vmdk)
            throw new ImageFormatException($"Invalid backing file format: {parent.Format.Name}. Must be vmdk");
        return vmdk.ReadCurrentCid() ?? throw new ImageFormatException("Failed to read parent CID");
    }

    /// <summary>
    /// qemu's vmdk_init_extent: header, redundant directory then directory, each followed by its (all zero,
    /// unwritten) grain tables; the file is cut at the first grain (verified layout, see FORMATS.md §1.1).
    /// </summary>
    internal static void InitSparseExtent(HostFile file, long bytes, bool compress, bool zeroedGrain)
    {
        long capacity = bytes / 512;
        long grains = (capacity + GrainSectors - 1) / GrainSectors;
        long gtSectors = GtesPerGt * 4 / 512;
        long gtCount = (grains + GtesPerGt - 1) / GtesPerGt;
        long gdSectors = (gtCount * 4 + 511) / 512;
        long rgdOffset = DescriptorSector + DescriptorSectors;
        long gdOffset = rgdOffset + gdSectors + gtSectors * gtCount;
        long overHead = (gdOffset + gdSectors + gtSectors * gtCount + GrainSectors - 1) / GrainSectors * GrainSectors;
        if (overHead >= 1L << 32) throw new ImageFormatException("The image size is too large for file format 'vmdk'");

        var header = new VmdkSparseHeader(
            Version: compress ? 3u : zeroedGrain ? 2u : 1u,
            Flags: VmdkSparseHeader.FlagRedundantGd | VmdkSparseHeader.FlagNewlineDetect
                | (compress ? VmdkSparseHeader.FlagCompressed | VmdkSparseHeader.FlagMarkers : 0)
                | (zeroedGrain ? VmdkSparseHeader.FlagZeroGrain : 0),
            Capacity: (ulong)capacity, GrainSize: GrainSectors, DescriptorOffset: DescriptorSector,
            DescriptorSize: DescriptorSectors, GtesPerGt: GtesPerGt, RgdOffset: (ulong)rgdOffset,
            GdOffset: (ulong)gdOffset, OverHead: (ulong)overHead, UncleanShutdown: 0,
            CompressAlgorithm: compress ? VmdkSparseHeader.CompressionDeflate : (ushort)0);
        Span<byte> sector = stackalloc byte[VmdkSparseHeader.Size];
        header.Write(sector);
        // qemu writes the 79 header bytes only; the rest of sector 0 stays a hole until the descriptor lands.
        file.Write(0, sector[..79]);
        file.SetLength(overHead * 512);

        var directory = new byte[gdSectors * 512];
        WriteDirectory(file, directory, rgdOffset, gdSectors, gtSectors, gtCount);
        WriteDirectory(file, directory, gdOffset, gdSectors, gtSectors, gtCount);
    }

    private static void WriteDirectory(HostFile file, byte[] buffer, long offset, long gdSectors, long gtSectors, long gtCount)
    {
        for (long i = 0; i < gtCount; i++)
            BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan((int)(i * 4)), (uint)(offset + gdSectors + i * gtSectors));
        if (buffer.Length > 0) file.Write(offset * 512, buffer);
    }
}
