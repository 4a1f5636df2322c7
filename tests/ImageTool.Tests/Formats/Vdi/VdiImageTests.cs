using System.Buffers.Binary;
using ImageTool.Check;
using ImageTool.Operations;
using ImageTool.Options;
using ImageTool.Tests.Support;
using static ImageTool.Tests.Formats.LegacyFormatSupport;

namespace ImageTool.Tests.Formats.Vdi;

public class VdiImageTests
{
    /// <summary>The image and last-snapshot UUIDs qemu draws at random.</summary>
    private const int UuidStart = 0x188, UuidEnd = 0x1A8;

    private static byte[] WithoutUuids(string path)
    {
        var bytes = File.ReadAllBytes(path);
        bytes.AsSpan(UuidStart, UuidEnd - UuidStart).Clear();
        return bytes;
    }

    [TestCase(100L << 20, false)]
    [TestCase(100_001, false)]
    [TestCase(300L << 20, false)]
    [TestCase(3L << 20, true)]
    [TestCase(1000, true)]
    public void Create_MatchesQemuImgApartFromUuids(long size, bool isStatic)
    {
        using var dir = new TempDir();
        DiskImage.Create(new CreateRequest(dir["img.vdi"], "vdi") { Size = size, Options = new ImageOptions().Set("static", isStatic ? "on" : "off") });
        Tools.QemuImg("create", "-f", "vdi", "-o", $"static={(isStatic ? "on" : "off")}", dir["qemu.vdi"], size.ToString()).Ok();
        Assert.That(WithoutUuids(dir["img.vdi"]), Is.EqualTo(WithoutUuids(dir["qemu.vdi"])));
        Assert.That(File.ReadAllBytes(dir["img.vdi"]).AsSpan(UuidStart, 16).ContainsAnyExcept((byte)0), "a random image UUID");
        Assert.That(InfoHuman(dir["img.vdi"]), Is.EqualTo(Tools.QemuImg("info", dir["img.vdi"]).Ok().Stdout));
        Assert.That(InfoJson(dir["img.vdi"]), Is.EqualTo(Tools.QemuImg("info", "--output=json", dir["img.vdi"]).Ok().Stdout));
        using var image = DiskImage.Open(dir["img.vdi"]);
        var map = new StringWriter();
        MapOperation.Write(image, map, json: true);
        Assert.That(map.ToString(), Is.EqualTo(Tools.QemuImg("map", "--output=json", dir["img.vdi"]).Ok().Stdout));
        Assert.That(Tools.QemuImg("check", dir["img.vdi"]).Ok().Stdout, Is.EqualTo(CheckOperation.Human(CheckOperation.Run(image, CheckRepair.None, _ => { }))));
    }

    [Test]
    public void Read_QemuWrittenImage_BitExact_AndMapMatches()
    {
        using var dir = new TempDir();
        string path = dir["q.vdi"];
        Tools.QemuImg("create", "-f", "vdi", path, "5M").Ok();
        Tools.QemuIo("-f", "vdi", path, "-c", "write -P 0x11 3M 5000", "-c", "write -P 0x22 1000 1M", "-c", "write -P 0x33 4M 1M").Ok();
        Tools.QemuImg("convert", "-f", "vdi", "-O", "raw", path, dir["q.raw"]).Ok();
        using var image = DiskImage.Open(path);
        Assert.That(image.Format.Name, Is.EqualTo("vdi"));
        Assert.That(ReadAll(image), Is.EqualTo(File.ReadAllBytes(dir["q.raw"])));
        var map = new StringWriter();
        MapOperation.Write(image, map, json: true);
        Assert.That(map.ToString(), Is.EqualTo(Tools.QemuImg("map", "--output=json", path).Ok().Stdout));
    }

    [Test]
    public void Write_RandomWrites_QemuImgCompareAndCheckClean()
    {
        using var dir = new TempDir();
        string path = dir["w.vdi"];
        const int size = 6 << 20;
        DiskImage.Create(new CreateRequest(path, "vdi") { Size = size });
        var model = new byte[size];
        var random = new Random(5);
        using (var image = DiskImage.Open(path, new OpenOptions { ReadOnly = false }))
        {
            for (int i = 0; i < 100; i++)
            {
                int length = random.Next(1, 300_000);
                int offset = random.Next(0, size - length);
                var data = SeededData.Bytes(length, i);
                image.Write(offset, data);
                data.CopyTo(model, offset);
            }
            image.WriteZeroes(1 << 20, 1 << 20, mayDeallocate: true);
            model.AsSpan(1 << 20, 1 << 20).Clear();
            Assert.That(ReadAll(image), Is.EqualTo(model));
        }
        File.WriteAllBytes(dir["model.raw"], model);
        Assert.That(Tools.QemuImg("compare", "-f", "vdi", "-F", "raw", path, dir["model.raw"]).Ok().Stdout, Does.Contain("identical"));
        Assert.That(Tools.QemuImg("check", path).Ok().Stdout, Is.EqualTo("No errors were found on the image.\n"));
    }

    [Test]
    public void Write_SameRequestsAsQemuIo_GiveTheSameFileApartFromUuids()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-f", "vdi", dir["q.vdi"], "4M").Ok();
        File.Copy(dir["q.vdi"], dir["i.vdi"]);
        Tools.QemuIo("-f", "vdi", dir["q.vdi"], "-c", "write -P 0x44 2M 4k", "-c", "write -P 0x55 100 1M").Ok();
        using (var image = DiskImage.Open(dir["i.vdi"], new OpenOptions { ReadOnly = false }))
        {
            image.Write(2 << 20, Enumerable.Repeat((byte)0x44, 4096).ToArray());
            image.Write(100, Enumerable.Repeat((byte)0x55, 1 << 20).ToArray());
        }
        Assert.That(File.ReadAllBytes(dir["i.vdi"]), Is.EqualTo(File.ReadAllBytes(dir["q.vdi"])));
    }

    [Test]
    public void Convert_BothWays_WithQemuImg()
    {
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["src.raw"], 5 << 20, 3, (100_000, 900_000), (3 << 20, 4096));
        ConvertOperation.Run([dir["src.raw"]], dir["ours.vdi"], new ConvertOptions { OutputFormat = "vdi" });
        Assert.That(Tools.QemuImg("compare", "-f", "vdi", "-F", "raw", dir["ours.vdi"], dir["src.raw"]).Ok().Stdout, Does.Contain("identical"));
        Tools.QemuImg("convert", "-O", "vdi", dir["src.raw"], dir["qemu.vdi"]).Ok();
        Assert.That(WithoutUuids(dir["ours.vdi"]), Is.EqualTo(WithoutUuids(dir["qemu.vdi"])));
        ConvertOperation.Run([dir["qemu.vdi"]], dir["back.raw"], new ConvertOptions { OutputFormat = "raw" });
        Assert.That(File.ReadAllBytes(dir["back.raw"]), Is.EqualTo(File.ReadAllBytes(dir["src.raw"])));
    }

    private static string Patched(TempDir dir, Action<byte[]> patch)
    {
        Tools.QemuImg("create", "-f", "vdi", dir["p.vdi"], "4M").Ok();
        Tools.QemuIo("-f", "vdi", dir["p.vdi"], "-c", "write -P 1 0 4k", "-c", "write -P 2 1M 4k").Ok();
        var bytes = File.ReadAllBytes(dir["p.vdi"]);
        patch(bytes);
        File.WriteAllBytes(dir["p.vdi"], bytes);
        return dir["p.vdi"];
    }

    [TestCase(0x44, 0x00010000u)]  // version 1.0
    [TestCase(0x154, 0x201u)]      // unaligned block map
    [TestCase(0x158, 0x401u)]      // unaligned data
    [TestCase(0x168, 4096u)]       // sector size
    [TestCase(0x178, 65536u)]      // block size
    [TestCase(0x180, 2u)]          // blocks in image smaller than the disk
    [TestCase(0x1B8, 1u)]          // parent UUID: a differencing image
    [TestCase(0x1A8, 1u)]          // link UUID
    [TestCase(0x180, 0x40000000u)] // too many blocks
    public void Open_BadHeaderField_FailsLikeQemu(int offset, uint value)
    {
        using var dir = new TempDir();
        string path = Patched(dir, b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(offset), value));
        Assert.That(OpenError(path, new OpenOptions { Format = "vdi" }), Is.EqualTo(QemuError(Tools.QemuImg("info", "-f", "vdi", path))));
    }

    [Test]
    public void Open_HugeDiskSize_FailsLikeQemu()
    {
        using var dir = new TempDir();
        string path = Patched(dir, b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(0x170), 1UL << 62));
        Assert.That(OpenError(path), Is.EqualTo(QemuError(Tools.QemuImg("info", path))));
    }

    /// <summary>qemu-iotests 084: the largest image qemu accepts, its block map mostly past the end of the file.</summary>
    [Test]
    public void Open_BlockMapPastTheFile_OpensAsQemu_WithoutHugeAllocation()
    {
        using var dir = new TempDir();
        string path = Patched(dir, b =>
        {
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(0x180), 0x1FFFFF80);
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(0x170), 0x1FFFFF8000000);
        });
        long before = GC.GetTotalAllocatedBytes();
        Assert.That(InfoHuman(path), Is.EqualTo(Tools.QemuImg("info", path).Ok().Stdout));
        Assert.That(GC.GetTotalAllocatedBytes() - before, Is.LessThan(16 << 20));
        using var image = DiskImage.Open(path);
        var expected = new byte[8192];
        expected.AsSpan(0, 4096).Fill(1);
        var data = new byte[8192];
        image.Read(100L << 30, data);
        Assert.That(data, Is.EqualTo(expected), "entries past the file read as 0: block 0's data");
    }

    [TestCase(0x200 + 4 * 2, 7u)]   // block 2 -> index 7: too large
    [TestCase(0x200 + 4 * 3, 0u)]   // block 3 -> index 0: used twice, and the count is wrong
    [TestCase(0x184, 5u)]           // blocks allocated
    public void Check_DamagedBlockMap_ReportsAsQemu(int offset, uint value)
    {
        using var dir = new TempDir();
        string path = Patched(dir, b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(offset), value));
        var qemu = Tools.QemuImg("check", path);
        using var image = DiskImage.Open(path);
        var lines = new List<string>();
        var result = CheckOperation.Run(image, CheckRepair.None, lines.Add);
        Assert.That(result.ExitCode, Is.EqualTo(qemu.ExitCode));
        Assert.That(string.Concat(lines.Select(l => l + "\n")), Is.EqualTo(qemu.Stderr));
        Assert.That(CheckOperation.Human(result), Is.EqualTo(qemu.Stdout));
    }

    [Test]
    public void Check_Repair_IsRefusedAsQemu()
    {
        using var dir = new TempDir();
        string path = Patched(dir, _ => { });
        Assert.That(Tools.QemuImg("check", "-r", "all", path).ExitCode, Is.EqualTo(63));
        using var image = DiskImage.Open(path, new OpenOptions { ReadOnly = false });
        var e = Assert.Throws<UnsupportedFeatureException>(() => CheckOperation.Run(image, CheckRepair.All, _ => { }));
        Assert.That(e!.Message, Is.EqualTo(CheckOperation.NotSupportedMessage));
    }

    [Test]
    public void Probe_SignatureAt0x40_IsVdi_AndCreateOptionsMatchQemu()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-f", "vdi", dir["p.bin"], "1M").Ok();
        Assert.That(DiskImage.Probe(dir["p.bin"]), Is.EqualTo("vdi"));
        var help = Tools.QemuImg("create", "-f", "vdi", "-o", "help").Ok().Stdout.Split('\n')
            .Where(l => l.StartsWith("  ", StringComparison.Ordinal));
        var ours = ImageOptions.HelpLines(DiskImage.FindFormat("vdi")!.CreateOptions.Where(o => !o.Protocol).ToList());
        Assert.That(ours, Is.EqualTo(help));
    }
}
