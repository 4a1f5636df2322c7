using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace ImageTool.Tests.Formats.Vmdk;

/// <summary>
/// Writes a streamOptimized file the way VMware does (not qemu): gdOffset = -1 in the header, grain markers,
/// then GT markers, a GD marker, a footer (header copy with the real gdOffset) and an end-of-stream marker.
/// </summary>
internal static class VmwareStreamBuilder
{
    public static void Write(string path, byte[] disk, int grainDataSizeDelta = 0)
    {
        const int grainSectors = 128, grain = grainSectors * 512, gtes = 512;
        long capacity = disk.Length / 512;
        long grains = (capacity + grainSectors - 1) / grainSectors;
        int gtCount = (int)((grains + gtes - 1) / gtes);
        var gts = new uint[gtCount * gtes];
        using var fs = new FileStream(path, FileMode.Create);
        var header = Header(capacity, gdOffset: ulong.MaxValue);
        fs.Write(header);
        var desc = Encoding.ASCII.GetBytes(
            "# Disk DescriptorFile\nversion=1\nCID=1a2b3c4d\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n\n" +
            $"# Extent description\nRW {capacity} SPARSE \"{Path.GetFileName(path)}\"\n\n# The Disk Data Base\n#DDB\n");
        var descArea = new byte[20 * 512];
        desc.CopyTo(descArea, 0);
        fs.Write(descArea);
        fs.SetLength(128 * 512);
        fs.Position = 128 * 512;
        for (long g = 0; g < grains; g++)
        {
            int n = (int)Math.Min(grain, disk.Length - g * grain);
            var data = disk.AsSpan((int)(g * grain), n);
            if (!data.ContainsAnyExcept((byte)0)) continue;
            var output = new MemoryStream();
            using (var z = new ZLibStream(output, CompressionLevel.Optimal, leaveOpen: true)) z.Write(data);
            var compressed = output.ToArray();
            gts[g] = (uint)(fs.Position / 512);
            var marker = new byte[(12 + compressed.Length + 511) & ~511];
            BinaryPrimitives.WriteUInt64LittleEndian(marker, (ulong)(g * grainSectors));
            BinaryPrimitives.WriteUInt32LittleEndian(marker.AsSpan(8), (uint)(compressed.Length + grainDataSizeDelta));
            compressed.CopyTo(marker, 12);
            fs.Write(marker);
        }
        var gd = new uint[gtCount];
        for (int t = 0; t < gtCount; t++)
        {
            fs.Write(Metadata(4, 1));
            gd[t] = (uint)(fs.Position / 512);
            var table = new byte[4 * 512];
            for (int i = 0; i < gtes; i++) BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(i * 4), gts[t * gtes + i]);
            fs.Write(table);
        }
        int gdSectors = (gtCount * 4 + 511) / 512;
        fs.Write(Metadata((ulong)gdSectors, 2));
        ulong gdAt = (ulong)(fs.Position / 512);
        var gdBytes = new byte[gdSectors * 512];
        for (int t = 0; t < gtCount; t++) BinaryPrimitives.WriteUInt32LittleEndian(gdBytes.AsSpan(t * 4), gd[t]);
        fs.Write(gdBytes);
        fs.Write(Metadata(1, 3));
        fs.Write(Header(capacity, gdAt));
        fs.Write(new byte[512]);
    }

    private static byte[] Header(long capacity, ulong gdOffset)
    {
        var h = new byte[512];
        "KDMV"u8.CopyTo(h);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(4), 3);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(8), 0x30001);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(12), (ulong)capacity);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(20), 128);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(28), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(36), 20);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(44), 512);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(56), gdOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(64), 128);
        h[73] = 0x0A; h[74] = 0x20; h[75] = 0x0D; h[76] = 0x0A;
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(77), 1);
        return h;
    }

    private static byte[] Metadata(ulong sectors, uint type)
    {
        var m = new byte[512];
        BinaryPrimitives.WriteUInt64LittleEndian(m, sectors);
        BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(12), type);
        return m;
    }
}
