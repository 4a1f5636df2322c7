using ImageTool.Formats.Bochs;
using ImageTool.Info;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Bochs;

/// <summary>Bochs growing images made by bximage and by a small writer (v1 headers, holes, partial bitmaps), read as qemu-img reads them.</summary>
public class BochsImageTests
{
    private static byte[] ImgRead(string path)
    {
        using var image = DiskImage.Open(path);
        Assert.That(image.Format.Name, Is.EqualTo("bochs"));
        var data = new byte[image.Length];
        image.Read(0, data);
        return data;
    }

    private static byte[] QemuRead(TempDir dir, string path)
    {
        Tools.QemuImg("convert", "-f", "bochs", "-O", "raw", path, dir["qemu.raw"]).Ok();
        return File.ReadAllBytes(dir["qemu.raw"]);
    }

    private static void AssertInfoAsQemu(string path)
    {
        using var opened = DiskImage.Open(path, new OpenOptions { OpenBacking = false, MetadataOnly = true });
        var info = global::ImageTool.Operations.InfoOperation.Describe(opened);
        Assert.That(ImageInfoFormatter.Json([info], false), Is.EqualTo(Tools.QemuImg("info", "--output=json", path).Ok().Stdout));
        Assert.That(ImageInfoFormatter.Human([info]), Is.EqualTo(Tools.QemuImg("info", path).Ok().Stdout));
    }

    /// <summary>
    /// A growing image: header, catalog (slot per extent or unallocated), then per slot a bitmap and the extent's sectors;
    /// <paramref name="written"/> says which sectors of each extent are marked in the bitmap (null: extent unallocated).
    /// </summary>
    internal static void WriteImage(string path, BochsHeader header, byte[] disk, Func<long, bool[]?> written)
    {
        int extentSectors = (int)(header.ExtentSize / 512);
        // A zero bitmap size wraps to 4 GiB in qemu; the writer then lays out a plain 512-byte bitmap.
        int bitmapBytes = header.BitmapSize == 0 ? 512 : (int)header.BitmapSectors * 512;
        using var fs = new FileStream(path, FileMode.Create);
        var head = new byte[BochsHeader.Size];
        header.Write(head);
        fs.Write(head);
        var catalog = new byte[header.CatalogEntries * 4];
        uint slot = 0;
        var slots = new List<(long Extent, bool[] Bits)>();
        for (long e = 0; e < header.CatalogEntries; e++)
        {
            var bits = written(e);
            uint value = bits == null ? BochsHeader.Unallocated : slot++;
            BitConverter.GetBytes(value).CopyTo(catalog, e * 4);
            if (bits != null) slots.Add((e, bits));
        }
        fs.Position = header.HeaderSize;
        fs.Write(catalog);
        foreach (var (extent, bits) in slots)
        {
            var bitmap = new byte[bitmapBytes];
            var data = new byte[header.ExtentSize];
            for (int s = 0; s < extentSectors; s++)
            {
                long at = (extent * extentSectors + s) * 512;
                // Sectors not marked hold garbage, which must not be read.
                if (bits[s]) bitmap[s / 8] |= (byte)(1 << (s % 8));
                if (bits[s] && at < disk.Length) Array.Copy(disk, at, data, s * 512, Math.Min(512, disk.Length - at));
                else Array.Fill(data, (byte)0xEE, s * 512, 512);
            }
            fs.Write(bitmap);
            fs.Write(data);
        }
    }

    [Test]
    public void BximageGrowingImage_ReadsAsSourceAndAsQemu()
    {
        Tools.Require("bximage");
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["src.raw"], 10321920, 4, (0, 100000), (3 << 20, 70000), (10321920 - 4096, 4096));
        Tools.RunIn(dir.Path, "bximage", "-q", "-func=convert", "-imgmode=growing", "src.raw", "b.img").Ok();
        Assert.That(ImgRead(dir["b.img"]), Is.EqualTo(File.ReadAllBytes(dir["src.raw"])));
        Assert.That(ImgRead(dir["b.img"]), Is.EqualTo(QemuRead(dir, dir["b.img"])));
        AssertInfoAsQemu(dir["b.img"]);
        Tools.RunIn(dir.Path, "bximage", "-q", "-func=create", "-hd=10M", "-imgmode=growing", "e.img").Ok();
        Assert.That(ImgRead(dir["e.img"]), Is.All.Zero);
        AssertInfoAsQemu(dir["e.img"]);
    }

    [TestCase(BochsHeader.Version1, 4096u, 1u)]
    [TestCase(BochsHeader.Version2, 16384u, 4u)]
    [TestCase(BochsHeader.Version2, 8192u, 0u)] // a zero bitmap size: qemu's 32-bit arithmetic makes the bitmap 4 GiB long
    public void WrittenImage_HolesAndPartialBitmaps_ReadAsQemu(uint version, uint extentSize, uint bitmapSize)
    {
        using var dir = new TempDir();
        long size = 40 * 8192 + 1000; // not a multiple of the extent size, nor of 512
        var disk = SeededData.Bytes((int)size, 7);
        uint entries = (uint)((size / 512 + extentSize / 512 - 1) / (extentSize / 512));
        var header = new BochsHeader(true, version, 512, entries, bitmapSize, extentSize, (ulong)size);
        var random = new Random(3);
        WriteImage(dir["w.img"], header, disk, e => e % 3 == 1 ? null
            : Enumerable.Range(0, (int)(extentSize / 512)).Select(_ => random.Next(4) != 0).ToArray());
        if (bitmapSize == 0)
        {
            // Only qemu's reading is modelled: the written layout does not match a 4 GiB bitmap.
            Assert.That(ImgRead(dir["w.img"]), Is.EqualTo(QemuRead(dir, dir["w.img"])));
            return;
        }
        byte[] read = ImgRead(dir["w.img"]);
        Assert.That(read, Is.EqualTo(QemuRead(dir, dir["w.img"])));
        Assert.That(read.Length, Is.EqualTo(size / 512 * 512));
        AssertInfoAsQemu(dir["w.img"]);
    }

    [TestCase(0x100001u, 16384u, "Catalog size is too large")]
    [TestCase(4u, 256u, "Extent size must be at least 512")]
    [TestCase(4u, 3000u, "Extent size 3000 is not a power of two")]
    [TestCase(4u, 0x1000000u, "Extent size 16777216 is too large")]
    [TestCase(1u, 16384u, "Catalog size is too small for this disk size")]
    public void CorruptHeader_QemuMessage(uint entries, uint extentSize, string message)
    {
        using var dir = new TempDir();
        var header = new BochsHeader(true, BochsHeader.Version2, 512, entries, 4, extentSize, 1 << 20);
        var b = new byte[512 + (entries <= 0x100000 ? entries * 4 : 0)];
        header.Write(b);
        File.WriteAllBytes(dir["c.img"], b);
        var e = Assert.Throws<ImageFormatException>(() => DiskImage.Open(dir["c.img"]))!;
        Assert.That(e.Message, Does.EndWith(message));
        Assert.That(Tools.QemuImg("info", dir["c.img"]).Stderr, Does.Contain(message));
    }

    [Test]
    public void CatalogPastEndOfFile_ClearError()
    {
        using var dir = new TempDir();
        var b = new byte[2000];
        new BochsHeader(true, BochsHeader.Version2, 512, 1024, 4, 16384, 10 << 20).Write(b);
        File.WriteAllBytes(dir["t.img"], b);
        var e = Assert.Catch<ImageFormatException>(() => DiskImage.Open(dir["t.img"]))!;
        Assert.That(e.Message, Does.Contain("beyond the end of the file"));
    }

    [Test]
    public void OpenForWriting_ReadOnlyError_AndNoCreation()
    {
        using var dir = new TempDir();
        var b = new byte[512 + 256];
        new BochsHeader(true, BochsHeader.Version2, 512, 64, 4, 16384, 1 << 20).Write(b);
        File.WriteAllBytes(dir["r.img"], b);
        var e = Assert.Throws<ImageFormatException>(() => DiskImage.Open(dir["r.img"], new OpenOptions { ReadOnly = false }))!;
        Assert.That(e.Message, Does.EndWith("Image is read-only"));
        e = Assert.Throws<UnsupportedFeatureException>(() => DiskImage.Create(new CreateRequest(dir["n.img"], "bochs") { Size = 1 << 20 }))!;
        Assert.That(e.Message, Is.EqualTo("Format driver 'bochs' does not support image creation"));
    }

    [Test]
    public void Probe_NeedsExactStringsAndVersion()
    {
        var b = new byte[512];
        new BochsHeader(true, BochsHeader.Version1, 512, 1, 4, 16384, 1 << 14).Write(b);
        Assert.That(global::ImageTool.Formats.FormatRegistry.ProbeBytes(b).Name, Is.EqualTo("bochs"));
        b[48 + 7] = (byte)'X'; // "GrowingX"
        Assert.That(global::ImageTool.Formats.FormatRegistry.ProbeBytes(b).Name, Is.EqualTo("raw"));
    }
}
