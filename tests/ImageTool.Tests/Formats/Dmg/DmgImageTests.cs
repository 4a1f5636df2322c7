using ImageTool.Formats.Dmg;
using ImageTool.Info;
using ImageTool.Tests.Support;
using static ImageTool.Tests.Formats.Dmg.DmgTestImage;

namespace ImageTool.Tests.Formats.Dmg;

/// <summary>dmg images from <see cref="DmgTestImage"/>, read by img and by qemu-img (Debian's qemu reads all but bzip2 and lzfse chunks).</summary>
public class DmgImageTests
{
    private static byte[] ImgRead(string path, string? format = null)
    {
        using var image = DiskImage.Open(path, new OpenOptions { Format = format });
        Assert.That(image.Format.Name, Is.EqualTo("dmg"));
        var data = new byte[image.Length];
        image.Read(0, data);
        return data;
    }

    private static byte[] QemuRead(TempDir dir, string path)
    {
        Tools.QemuImg("convert", "-f", "dmg", "-O", "raw", path, dir["qemu.raw"]).Ok();
        return File.ReadAllBytes(dir["qemu.raw"]);
    }

    private static void AssertInfoAsQemu(string path)
    {
        using var opened = DiskImage.Open(path, new OpenOptions { OpenBacking = false, MetadataOnly = true });
        var info = global::ImageTool.Operations.InfoOperation.Describe(opened);
        Assert.That(ImageInfoFormatter.Json([info], false), Is.EqualTo(Tools.QemuImg("info", "--output=json", path).Ok().Stdout));
        Assert.That(ImageInfoFormatter.Human([info]), Is.EqualTo(Tools.QemuImg("info", path).Ok().Stdout));
    }

    private static List<Chunk> Mixed() =>
    [
        RawChunk(SeededData.Bytes(8192, 1)),
        ZeroChunk(64),
        ZlibChunk([.. new byte[4096], .. SeededData.Bytes(4096, 2), .. Enumerable.Repeat((byte)0x41, 65536)]),
        IgnoreChunk(3),
        RawChunk(SeededData.Bytes(512, 3)),
        ZlibChunk(SeededData.Bytes(131072, 4)),
    ];

    [TestCase(false)]
    [TestCase(true)]
    public void RawZeroIgnoreZlib_ReadAsQemuAndAsWritten(bool resourceFork)
    {
        using var dir = new TempDir();
        var chunks = Mixed();
        Write(dir["m.dmg"], chunks, resourceFork);
        byte[] read = ImgRead(dir["m.dmg"]);
        Assert.That(read, Is.EqualTo(Expected(chunks)));
        Assert.That(read, Is.EqualTo(QemuRead(dir, dir["m.dmg"])));
        AssertInfoAsQemu(dir["m.dmg"]);
    }

    [Test]
    public void Bzip2Chunks_Decompressed_QemuOnDebianCannot()
    {
        using var dir = new TempDir();
        var plain = SeededData.Bytes(65536, 5);
        Array.Clear(plain, 1000, 20000);
        Write(dir["b.dmg"], [RawChunk(SeededData.Bytes(1024, 6)), Bzip2Chunk(plain), ZeroChunk(8)]);
        Assert.That(ImgRead(dir["b.dmg"]), Is.EqualTo([.. SeededData.Bytes(1024, 6), .. plain, .. new byte[4096]]));
        // Debian's qemu has no dmg-bz2 module: it fails these reads with EIO (FORMATS-2.md §8).
        var qemu = Tools.QemuImg("convert", "-f", "dmg", "-O", "raw", dir["b.dmg"], dir["q.raw"]);
        if (qemu.ExitCode == 0) Assert.That(File.ReadAllBytes(dir["q.raw"]), Is.EqualTo(ImgRead(dir["b.dmg"])));
        else Assert.That(qemu.Stderr, Does.Contain("Input/output error"));
    }

    [Test]
    public void LzfseAndAdcChunks_ClearErrorNamingTheType()
    {
        using var dir = new TempDir();
        var warnings = new List<string>();
        Write(dir["l.dmg"], [RawChunk(new byte[512]), new Chunk(DmgChunk.Lzfse, 8, [1, 2, 3]), new Chunk(DmgChunk.Adc, 8, [1])]);
        using var image = DiskImage.Open(dir["l.dmg"], new OpenOptions { Warning = w => warnings.Add(w.Message) });
        Assert.That(warnings, Has.Count.EqualTo(1).And.Some.Contains("lzfse"));
        var buffer = new byte[512];
        image.Read(0, buffer);
        Assert.That(Assert.Throws<UnsupportedFeatureException>(() => image.Read(512, buffer))!.Message, Does.Contain("lzfse"));
        Assert.That(Assert.Throws<UnsupportedFeatureException>(() => image.Read(512 * 9, buffer))!.Message, Does.Contain("ADC"));
    }

    [Test]
    public void Probe_ByDmgNameOnly_AsQemu()
    {
        using var dir = new TempDir();
        Write(dir["p.dmg"], Mixed());
        File.Copy(dir["p.dmg"], dir["p_dmg.img"]);
        Assert.That(DiskImage.Probe(dir["p.dmg"]), Is.EqualTo("dmg"));
        Assert.That(DiskImage.Probe(dir["p_dmg.img"]), Is.EqualTo("raw"));
        Assert.That(Tools.QemuImg("info", dir["p_dmg.img"]).Ok().Stdout, Does.Contain("file format: raw"));
        Assert.That(ImgRead(dir["p_dmg.img"], "dmg"), Is.EqualTo(Expected(Mixed())));
    }

    [Test]
    public void SectorsOutsideEveryChunk_ReadFailsAsQemu()
    {
        using var dir = new TempDir();
        Write(dir["s.dmg"], [RawChunk(SeededData.Bytes(4096, 1))], sectorCount: 100);
        using var image = DiskImage.Open(dir["s.dmg"]);
        Assert.That(image.Length, Is.EqualTo(51200));
        Assert.Throws<ImageCorruptException>(() => image.Read(0, new byte[51200]));
        Assert.That(Tools.QemuImg("convert", "-f", "dmg", "-O", "raw", dir["s.dmg"], dir["q.raw"]).Stderr, Does.Contain("Input/output error"));
    }

    /// <summary>Hostile block tables: qemu's limits and messages, never an allocation the file cannot justify.</summary>
    [TestCase(204 + 16, 200000UL, "sector count 200000 for chunk 0 is larger than max (131072)")]
    [TestCase(204 + 32, 67108865UL, "length 67108865 for chunk 0 is larger than max (67108864)")]
    public void ChunkBeyondQemuLimits_OpenFails(int field, ulong value, string report)
    {
        using var dir = new TempDir();
        Write(dir["h.dmg"], [RawChunk(SeededData.Bytes(4096, 1))],
            patchMish: m => System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(m.AsSpan(field), value));
        var warnings = new List<string>();
        var e = Assert.Throws<ImageFormatException>(() => DiskImage.Open(dir["h.dmg"], new OpenOptions { Warning = w => warnings.Add(w.Message) }))!;
        Assert.That(e.Message, Does.EndWith("Invalid argument"));
        Assert.That(warnings, Is.EqualTo(new[] { "img: " + report }));
        Assert.That(Tools.QemuImg("info", dir["h.dmg"]).Stderr, Does.Contain(report));
    }

    [Test]
    public void ChunkDataPastEndOfFile_ClearError()
    {
        using var dir = new TempDir();
        Write(dir["e.dmg"], [RawChunk(SeededData.Bytes(4096, 1)), RawChunk(SeededData.Bytes(4096, 2))],
            patchMish: m => System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(m.AsSpan(204 + 40 + 24), 1UL << 40));
        using var image = DiskImage.Open(dir["e.dmg"]);
        var e = Assert.Throws<ImageCorruptException>(() => image.Read(4096, new byte[4096]))!;
        Assert.That(e.Message, Does.Contain("beyond the end of the file"));
    }

    [Test]
    public void MissingTrailerAndTinyFile_QemuMessages()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["n.dmg"], new byte[4096]);
        // qemu rounds the file length up to whole sectors first: only an empty file is too short.
        File.WriteAllBytes(dir["t.dmg"], []);
        Assert.That(Assert.Throws<ImageFormatException>(() => DiskImage.Open(dir["n.dmg"]))!.Message, Does.EndWith("Could not locate UDIF trailer in dmg file"));
        Assert.That(DiskImage.Probe(dir["t.dmg"]), Is.EqualTo("raw"));
        Assert.That(Assert.Throws<ImageFormatException>(() => DiskImage.Open(dir["t.dmg"], new OpenOptions { Format = "dmg" }))!.Message, Does.EndWith("dmg file must be at least 512 bytes long"));
        Assert.That(Tools.QemuImg("info", dir["n.dmg"]).Stderr, Does.Contain("Could not locate UDIF trailer in dmg file"));
        Assert.That(Tools.QemuImg("info", "-f", "dmg", dir["t.dmg"]).Stderr, Does.Contain("dmg file must be at least 512 bytes long"));
    }

    [Test]
    public void OpenForWriting_ReadOnlyError()
    {
        using var dir = new TempDir();
        Write(dir["w.dmg"], Mixed());
        var e = Assert.Throws<ImageFormatException>(() => DiskImage.Open(dir["w.dmg"], new OpenOptions { ReadOnly = false }))!;
        Assert.That(e.Message, Does.EndWith("Image is read-only"));
    }
}
