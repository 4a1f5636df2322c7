using System.Buffers.Binary;
using ImageTool.Check;
using ImageTool.Operations;
using ImageTool.Options;
using ImageTool.Tests.Support;
using static ImageTool.Tests.Formats.LegacyFormatSupport;

namespace ImageTool.Tests.Formats.Qcow;

public class QcowImageTests
{
    private static readonly Dictionary<string, string> Secrets = new() { ["sec0"] = "secretpass" };

    private static OpenOptions Keyed(bool readOnly = true) => new()
    {
        ReadOnly = readOnly,
        Secrets = Secrets,
        DriverOptions = new ImageOptions().Set("encrypt.key-secret", "sec0"),
    };

    private static string[] QemuKeyed(string path) =>
        ["--object", "secret,id=sec0,data=secretpass", "--image-opts", $"driver=qcow,file.filename={path},encrypt.key-secret=sec0"];

    [TestCase(10 << 20, null)]
    [TestCase(1000, null)]
    [TestCase(5L << 30, null)]
    [TestCase(1 << 20, "base.qcow")]
    [TestCase(1 << 20, "a-longer-backing-name.qcow")]
    public void Create_IsByteIdenticalToQemuImg(long size, string? backing)
    {
        using var dir = new TempDir();
        if (backing != null) Tools.QemuImg("create", "-f", "qcow", dir[backing], "1M").Ok();
        var options = new ImageOptions();
        if (backing != null) options.Set("backing_file", backing).Set("backing_fmt", "qcow");
        DiskImage.Create(new CreateRequest(dir["img.qcow"], "qcow") { Size = size, Options = options });
        var args = new List<string> { "create", "-f", "qcow" };
        if (backing != null) args.AddRange(["-b", backing, "-F", "qcow"]);
        args.AddRange([dir["qemu.qcow"], size.ToString()]);
        Tools.QemuImg([.. args]).Ok();
        Assert.That(File.ReadAllBytes(dir["img.qcow"]), Is.EqualTo(File.ReadAllBytes(dir["qemu.qcow"])));
        Assert.That(InfoHuman(dir["img.qcow"]), Is.EqualTo(Tools.QemuImg("info", dir["img.qcow"]).Ok().Stdout));
        Assert.That(InfoJson(dir["img.qcow"]), Is.EqualTo(Tools.QemuImg("info", "--output=json", dir["img.qcow"]).Ok().Stdout));
    }

    [Test]
    public void Read_QemuWrittenImage_WithCompressedAndPlainClusters()
    {
        using var dir = new TempDir();
        string path = dir["q.qcow"];
        Tools.QemuImg("create", "-f", "qcow", path, "4M").Ok();
        Tools.QemuIo("-f", "qcow", path, "-c", "write -P 0x11 0 64k", "-c", "write -c -P 0x22 128k 4k",
            "-c", "write -c -P 0x33 1M 4k", "-c", "write -c -P 0x34 1028k 4k", "-c", "write -P 0x44 1030k 1k").Ok();
        Tools.QemuImg("convert", "-f", "qcow", "-O", "raw", path, dir["q.raw"]).Ok();
        using var image = DiskImage.Open(path);
        Assert.That(ReadAll(image), Is.EqualTo(File.ReadAllBytes(dir["q.raw"])));
        Assert.That(image.GetBlockStatus(2 << 20, 1 << 20).State, Is.EqualTo(BlockState.Unallocated));
    }

    [Test]
    public void Write_RandomWrites_MatchModelAndQemuImgCompare()
    {
        using var dir = new TempDir();
        string path = dir["w.qcow"];
        const int size = 8 << 20;
        DiskImage.Create(new CreateRequest(path, "qcow") { Size = size });
        var model = new byte[size];
        var random = new Random(42);
        using (var image = DiskImage.Open(path, new OpenOptions { ReadOnly = false }))
        {
            for (int i = 0; i < 200; i++)
            {
                int length = random.Next(1, 100_000);
                int offset = random.Next(0, size - length);
                var data = SeededData.Bytes(length, i);
                image.Write(offset, data);
                data.CopyTo(model, offset);
                if (i % 50 == 0) Assert.That(ReadAll(image), Is.EqualTo(model));
            }
            image.WriteZeroes(1 << 20, 1 << 20, mayDeallocate: true);
            model.AsSpan(1 << 20, 1 << 20).Clear();
            Assert.That(ReadAll(image), Is.EqualTo(model));
            Assert.That(CheckOperation.Run(image, CheckRepair.None, _ => { }).ExitCode, Is.Zero);
        }
        File.WriteAllBytes(dir["model.raw"], model);
        Assert.That(Tools.QemuImg("compare", "-f", "qcow", "-F", "raw", path, dir["model.raw"]).Ok().Stdout, Does.Contain("identical"));
    }

    [Test]
    public void Backing_PartialWriteIntoUnallocatedCluster_KeepsBackingDataAroundIt()
    {
        using var dir = new TempDir();
        var model = SeededData.Bytes(1 << 20, 9);
        File.WriteAllBytes(dir["base.raw"], model);
        DiskImage.Create(new CreateRequest(dir["ov.qcow"], "qcow")
        {
            Options = new ImageOptions().Set("backing_file", "base.raw").Set("backing_fmt", "raw"),
        });
        using (var image = DiskImage.Open(dir["ov.qcow"], new OpenOptions { ReadOnly = false }))
        {
            Assert.That(image.Backing?.Format.Name, Is.EqualTo("raw"), "qcow stores no backing format: probed");
            var data = SeededData.Bytes(300, 10);
            image.Write(5000, data);
            data.CopyTo(model, 5000);
            Assert.That(ReadAll(image), Is.EqualTo(model));
        }
        File.WriteAllBytes(dir["model.raw"], model);
        Assert.That(Tools.QemuImg("compare", "-f", "qcow", "-F", "raw", dir["ov.qcow"], dir["model.raw"]).Ok().Stdout, Does.Contain("identical"));
        Assert.That(File.ReadAllBytes(dir["base.raw"]), Is.EqualTo(SeededData.Bytes(1 << 20, 9)), "the base is never written");
    }

    [Test]
    public void ConvertCompressed_QemuReadsIt_AndStreamsMatchQemuImgs()
    {
        using var dir = new TempDir();
        var data = MixedData(2 << 20, 12);
        File.WriteAllBytes(dir["src.raw"], data);
        ConvertOperation.Run([dir["src.raw"]], dir["c.qcow"], new ConvertOptions { OutputFormat = "qcow", Compress = true });
        ConvertOperation.Run([dir["src.raw"]], dir["i.qcow"], new ConvertOptions { OutputFormat = "qcow", Compress = true, QemuIdenticalCompression = true });
        Assert.That(Tools.QemuImg("compare", "-f", "qcow", "-F", "raw", dir["c.qcow"], dir["src.raw"]).Ok().Stdout, Does.Contain("identical"));
        // qemu-img 7.2 writes the same image as the zlib path but exits 1 without a message (FORMATS.md §8.2).
        Tools.QemuImg("convert", "-c", "-f", "raw", "-O", "qcow", dir["src.raw"], dir["q.qcow"]);
        Assert.That(File.ReadAllBytes(dir["i.qcow"]), Is.EqualTo(File.ReadAllBytes(dir["q.qcow"])));
        using var image = DiskImage.Open(dir["q.qcow"]);
        var result = CheckOperation.Run(image, CheckRepair.None, _ => { });
        Assert.That((result.ExitCode, result.Report.CompressedClusters > 0), Is.EqualTo((0, true)));
    }

    [Test]
    public void Aes_BothWays_WithQemuImg()
    {
        using var dir = new TempDir();
        var data = MixedData(1 << 20, 13);
        File.WriteAllBytes(dir["src.raw"], data);
        ConvertOperation.Run([dir["src.raw"]], dir["ours.qcow"], new ConvertOptions
        {
            OutputFormat = "qcow",
            OutputOptions = new ImageOptions().Set("encrypt.format", "aes").Set("encrypt.key-secret", "sec0"),
            Secrets = Secrets,
        });
        Tools.QemuImg(["convert", .. QemuKeyed(dir["ours.qcow"]), "-O", "raw", dir["ours.raw"]]).Ok();
        Assert.That(File.ReadAllBytes(dir["ours.raw"]), Is.EqualTo(data));
        Assert.That(InfoHuman(dir["ours.qcow"]), Is.EqualTo(Tools.QemuImg("info", dir["ours.qcow"]).Ok().Stdout));

        Tools.QemuImg("create", "-f", "qcow", "--object", "secret,id=sec0,data=secretpass", "-o", "encrypt.format=aes,encrypt.key-secret=sec0", dir["q.qcow"], "1M").Ok();
        Tools.QemuIo(["--object", "secret,id=sec0,data=secretpass", "--image-opts", $"driver=qcow,file.filename={dir["q.qcow"]},encrypt.key-secret=sec0",
            "-c", "write -P 0x5a 1000 70000"]).Ok();
        using var image = DiskImage.Open(dir["q.qcow"], Keyed());
        var expected = new byte[1 << 20];
        expected.AsSpan(1000, 70000).Fill(0x5a);
        Assert.That(ReadAll(image), Is.EqualTo(expected));
        Assert.That(File.ReadAllBytes(dir["q.qcow"]).AsSpan().IndexOf(new byte[] { 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a }), Is.EqualTo(-1), "stored encrypted");
    }

    [Test]
    public void Aes_ReadWithoutKey_FailsLikeQemu()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-f", "qcow", "--object", "secret,id=sec0,data=secretpass", "-o", "encrypt.format=aes,encrypt.key-secret=sec0", dir["q.qcow"], "1M").Ok();
        Tools.QemuIo(["--object", "secret,id=sec0,data=secretpass", "--image-opts", $"driver=qcow,file.filename={dir["q.qcow"]},encrypt.key-secret=sec0",
            "-c", "write -P 0x5a 0 4k"]).Ok();
        using var image = DiskImage.Open(dir["q.qcow"]);
        var e = Assert.Throws<ImageFormatException>(() => image.Read(0, new byte[512]));
        Assert.That(e!.Message, Is.EqualTo("Parameter 'encrypt.key-secret' is required for cipher"));
    }

    private static string Patched(TempDir dir, Action<byte[]> patch)
    {
        Tools.QemuImg("create", "-f", "qcow", dir["p.qcow"], "16M").Ok();
        var bytes = File.ReadAllBytes(dir["p.qcow"]);
        patch(bytes);
        File.WriteAllBytes(dir["p.qcow"], bytes);
        return dir["p.qcow"];
    }

    [TestCase(24, 1UL)]                  // size too small
    [TestCase(32, 8UL)]                  // cluster bits (one byte, written at 32..39 big-endian: byte 32 = 8 via the top byte)
    [TestCase(36, 2UL << 32)]            // crypt method 2
    public void Open_BadHeaderField_FailsLikeQemu(int offset, ulong value)
    {
        using var dir = new TempDir();
        string path = Patched(dir, b =>
        {
            if (offset == 32) b[32] = (byte)value;
            else if (offset == 36) BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(36), (uint)(value >> 32));
            else BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(offset), value);
        });
        Assert.That(OpenError(path, new OpenOptions { Format = "qcow" }), Is.EqualTo(QemuError(Tools.QemuImg("info", "-f", "qcow", path))));
    }

    [Test]
    public void Open_L1TableBeyondTheFile_FailsWithoutHugeAllocation()
    {
        using var dir = new TempDir();
        string path = Patched(dir, b => BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(24), 1UL << 40));
        long before = GC.GetTotalAllocatedBytes();
        Assert.That(OpenError(path), Does.Contain("does not fit in the file"));
        Assert.That(GC.GetTotalAllocatedBytes() - before, Is.LessThan(16 << 20));
    }

    [Test]
    public void Check_ClusterOverlappingTheL1Table_IsCorruption()
    {
        using var dir = new TempDir();
        string path = dir["o.qcow"];
        Tools.QemuImg("create", "-f", "qcow", path, "4M").Ok();
        Tools.QemuIo("-f", "qcow", path, "-c", "write -P 1 0 8k").Ok();
        var bytes = File.ReadAllBytes(path);
        long l2 = (long)BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(48));
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan((int)l2 + 8), 0); // cluster 1 -> offset 0: the header
        File.WriteAllBytes(path, bytes);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan((int)l2 + 8), 4096);
        File.WriteAllBytes(path, bytes);
        using var image = DiskImage.Open(path);
        var lines = new List<string>();
        Assert.That(CheckOperation.Run(image, CheckRepair.None, lines.Add).ExitCode, Is.EqualTo(2));
        Assert.That(lines, Has.Some.Contains("overlaps"));
        Assert.That(Tools.QemuImg("check", path).ExitCode, Is.EqualTo(63), "qemu-img has no qcow check");
    }

    [Test]
    public void Probe_QcowVersion1_IsQcow_AndCreateOptionsMatchQemu()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-f", "qcow", dir["p.qcow"], "1M").Ok();
        Assert.That(DiskImage.Probe(dir["p.qcow"]), Is.EqualTo("qcow"));
        var help = Tools.QemuImg("create", "-f", "qcow", "-o", "help").Ok().Stdout.Split('\n')
            .Where(l => l.StartsWith("  ", StringComparison.Ordinal));
        var ours = ImageOptions.HelpLines(DiskImage.FindFormat("qcow")!.CreateOptions.Where(o => !o.Protocol).ToList());
        Assert.That(ours, Is.EqualTo(help));
    }
}
