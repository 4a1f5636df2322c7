using System.Buffers.Binary;
using System.Text;
using ImageTool.Check;
using ImageTool.Operations;
using ImageTool.Options;
using ImageTool.Tests.Support;
using static ImageTool.Tests.Formats.LegacyFormatSupport;

namespace ImageTool.Tests.Formats.Parallels;

public class ParallelsImageTests
{
    [TestCase(100L << 20, null)]
    [TestCase(100_001, null)]
    [TestCase(10L << 20, "3k")]
    [TestCase(10L << 20, "1")]
    [TestCase(1L << 30, "64k")]
    public void Create_IsByteIdenticalToQemuImg(long size, string? clusterSize)
    {
        using var dir = new TempDir();
        var options = new ImageOptions();
        var args = new List<string> { "create", "-f", "parallels" };
        if (clusterSize != null)
        {
            options.Set("cluster_size", clusterSize);
            args.AddRange(["-o", $"cluster_size={clusterSize}"]);
        }
        DiskImage.Create(new CreateRequest(dir["img.hdd"], "parallels") { Size = size, Options = options });
        Tools.QemuImg([.. args, dir["qemu.hdd"], size.ToString()]).Ok();
        Assert.That(File.ReadAllBytes(dir["img.hdd"]), Is.EqualTo(File.ReadAllBytes(dir["qemu.hdd"])));
        Assert.That(InfoHuman(dir["img.hdd"]), Is.EqualTo(Tools.QemuImg("info", dir["img.hdd"]).Ok().Stdout));
        Assert.That(InfoJson(dir["img.hdd"]), Is.EqualTo(Tools.QemuImg("info", "--output=json", dir["img.hdd"]).Ok().Stdout));
        var qemu = Tools.QemuImg("check", dir["img.hdd"]);
        using var image = DiskImage.Open(dir["img.hdd"]);
        var lines = new List<string>();
        var result = CheckOperation.Run(image, CheckRepair.None, lines.Add);
        Assert.That((result.ExitCode, CheckOperation.Human(result), string.Concat(lines.Select(l => l + "\n"))), Is.EqualTo((qemu.ExitCode, qemu.Stdout, qemu.Stderr)));
    }

    [TestCase("cluster_size=1T")]
    [TestCase("cluster_size=0")]
    public void Create_BadClusterSize_FailsLikeQemu(string option)
    {
        using var dir = new TempDir();
        var e = Assert.Throws<ImageCreateException>(() => DiskImage.Create(new CreateRequest(dir["x.hdd"], "parallels")
        {
            Size = 1 << 20,
            Options = new ImageOptions().Set("cluster_size", option.Split('=')[1]),
        }));
        Assert.That(e!.Message, Is.EqualTo(QemuError(Tools.QemuImg("create", "-q", "-f", "parallels", "-o", option, dir["q.hdd"], "1M")).Replace(dir["q.hdd"] + ": ", "")));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void Read_QemuWrittenImage_BothMagics_BitExact_AndMapMatches(bool oldMagic)
    {
        using var dir = new TempDir();
        string path = dir["q.hdd"];
        Tools.QemuImg("create", "-f", "parallels", "-o", "cluster_size=64k", path, "4M").Ok();
        Tools.QemuIo("-f", "parallels", path, "-c", "write -P 0x11 3M 5000", "-c", "write -P 0x22 1000 200k", "-c", "write -P 0x33 1M 64k").Ok();
        if (oldMagic)
        {
            // "WithoutFreeSpace": BAT entries count sectors, so the cluster numbers are scaled to sectors.
            var bytes = File.ReadAllBytes(path);
            Encoding.ASCII.GetBytes("WithoutFreeSpace").CopyTo(bytes, 0);
            for (int i = 0; i < 64; i++)
            {
                uint entry = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(64 + 4 * i));
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(64 + 4 * i), entry * 128);
            }
            File.WriteAllBytes(path, bytes);
        }
        Tools.QemuImg("convert", "-f", "parallels", "-O", "raw", path, dir["q.raw"]).Ok();
        using var image = DiskImage.Open(path);
        Assert.That(image.Format.Name, Is.EqualTo("parallels"));
        Assert.That(ReadAll(image), Is.EqualTo(File.ReadAllBytes(dir["q.raw"])));
        var map = new StringWriter();
        MapOperation.Write(image, map, json: true);
        Assert.That(map.ToString(), Is.EqualTo(Tools.QemuImg("map", "--output=json", path).Ok().Stdout));
    }

    [Test]
    public void Write_SameRequestsAsQemuIo_GiveTheSameFile_AndCheckClean()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-f", "parallels", "-o", "cluster_size=64k", dir["q.hdd"], "8M").Ok();
        File.Copy(dir["q.hdd"], dir["i.hdd"]);
        Tools.QemuIo("-f", "parallels", dir["q.hdd"], "-c", "write -P 0x44 1M 4k", "-c", "write -P 0x55 100 200k", "-c", "write -P 0x66 1M 128k").Ok();
        using (var image = DiskImage.Open(dir["i.hdd"], new OpenOptions { ReadOnly = false }))
        {
            image.Write(1 << 20, Enumerable.Repeat((byte)0x44, 4096).ToArray());
            Assert.That(Tools.QemuIo("-f", "parallels", dir["i.hdd"], "-U", "-r", "-c", "read 0 512").ExitCode, Is.Zero);
            Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(File.ReadAllBytes(dir["i.hdd"]).AsSpan(44)), Is.EqualTo(0x746F6E59), "in use while open");
            image.Write(100, Enumerable.Repeat((byte)0x55, 200 << 10).ToArray());
            image.Write(1 << 20, Enumerable.Repeat((byte)0x66, 128 << 10).ToArray());
        }
        Assert.That(File.ReadAllBytes(dir["i.hdd"]), Is.EqualTo(File.ReadAllBytes(dir["q.hdd"])));
        Assert.That(Tools.QemuImg("check", dir["i.hdd"]).Ok().ExitCode, Is.Zero);
    }

    [Test]
    public void Convert_BothWays_WithQemuImg()
    {
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["src.raw"], 5 << 20, 3, (100_000, 900_000), (3 << 20, 4096));
        ConvertOperation.Run([dir["src.raw"]], dir["ours.hdd"], new ConvertOptions { OutputFormat = "parallels" });
        Assert.That(Tools.QemuImg("compare", "-f", "parallels", "-F", "raw", dir["ours.hdd"], dir["src.raw"]).Ok().Stdout, Does.Contain("identical"));
        Tools.QemuImg("convert", "-O", "parallels", dir["src.raw"], dir["qemu.hdd"]).Ok();
        Assert.That(File.ReadAllBytes(dir["ours.hdd"]), Is.EqualTo(File.ReadAllBytes(dir["qemu.hdd"])));
        ConvertOperation.Run([dir["qemu.hdd"]], dir["back.raw"], new ConvertOptions { OutputFormat = "raw" });
        Assert.That(File.ReadAllBytes(dir["back.raw"]), Is.EqualTo(File.ReadAllBytes(dir["src.raw"])));
    }

    private static string Damaged(TempDir dir, string name, Action<byte[]> patch)
    {
        string path = dir[name];
        Tools.QemuImg("create", "-f", "parallels", "-o", "cluster_size=64k", path, "4M").Ok();
        Tools.QemuIo("-f", "parallels", path, "-c", "write -P 1 0 4k", "-c", "write -P 2 1M 64k", "-c", "write -P 3 3M 4k").Ok();
        var bytes = File.ReadAllBytes(path);
        patch(bytes);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static readonly Dictionary<string, Action<byte[]>> Damages = new()
    {
        ["clean"] = _ => { },
        ["in use"] = b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(44), 0x746F6E59),
        ["cluster outside the image"] = b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(64 + 4 * 16), 1000),
        ["space leaked"] = b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(64 + 4 * 48), 0),
    };

    private static IEnumerable<string> DamageNames => Damages.Keys;

    [TestCaseSource(nameof(DamageNames))]
    public void Check_AndRepair_ReportAsQemu(string damage)
    {
        using var dir = new TempDir();
        string path = Damaged(dir, "ours.hdd", Damages[damage]);
        string theirs = Damaged(dir, "theirs.hdd", Damages[damage]);
        var qemu = Tools.QemuImg("check", theirs);
        using (var image = DiskImage.Open(path))
        {
            var lines = new List<string>();
            var result = CheckOperation.Run(image, CheckRepair.None, lines.Add);
            Assert.That((result.ExitCode, CheckOperation.Human(result), string.Concat(lines.Select(l => l + "\n"))),
                Is.EqualTo((qemu.ExitCode, qemu.Stdout, qemu.Stderr)));
        }
        var qemuRepair = Tools.QemuImg("check", "-r", "all", theirs);
        using (var image = DiskImage.Open(path, new OpenOptions { ReadOnly = false, ForRepair = true }))
        {
            var lines = new List<string>();
            var result = CheckOperation.Run(image, CheckRepair.All, lines.Add);
            Assert.That((result.ExitCode, CheckOperation.Human(result), string.Concat(lines.Select(l => l + "\n"))),
                Is.EqualTo((qemuRepair.ExitCode, qemuRepair.Stdout, qemuRepair.Stderr)));
        }
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(File.ReadAllBytes(theirs)));
    }

    [Test]
    public void Open_InUse_ReadWriteRefusedAsQemu_ReadOnlyWorks()
    {
        using var dir = new TempDir();
        string path = Damaged(dir, "u.hdd", Damages["in use"]);
        string qemu = Tools.QemuIo("-f", "parallels", path, "-c", "read 0 1").Stderr.Trim().Replace($"qemu-io: can't open device {path}: ", "");
        Assert.That(OpenError(path, new OpenOptions { ReadOnly = false }), Is.EqualTo($"Could not open '{path}': {qemu}"));
        using var image = DiskImage.Open(path);
        Assert.That(InfoHuman(path), Is.EqualTo(Tools.QemuImg("info", path).Ok().Stdout));
    }

    [TestCase(16, 3u)]            // version
    [TestCase(28, 0u)]            // zero sectors per track
    [TestCase(28, 0x01000000u)]   // too big cluster
    [TestCase(32, 0x40000000u)]   // catalog too large
    public void Open_BadHeaderField_FailsLikeQemu(int offset, uint value)
    {
        using var dir = new TempDir();
        string path = Damaged(dir, "b.hdd", b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(offset), value));
        Assert.That(OpenError(path, new OpenOptions { Format = "parallels" }), Is.EqualTo(QemuError(Tools.QemuImg("info", "-f", "parallels", path))));
    }

    [Test]
    public void Open_BatPastTheFile_OpensAsQemu_WithoutHugeAllocation()
    {
        using var dir = new TempDir();
        string path = Damaged(dir, "b.hdd", b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(32), 0x1000000));
        long before = GC.GetTotalAllocatedBytes();
        Assert.That(InfoHuman(path), Is.EqualTo(Tools.QemuImg("info", path).Ok().Stdout));
        Assert.That(GC.GetTotalAllocatedBytes() - before, Is.LessThan(16 << 20));
        path = Damaged(dir, "c.hdd", b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(32), 0x1FFFFFFF));
        Assert.That(OpenError(path), Is.EqualTo(QemuError(Tools.QemuImg("info", path))));
    }

    [TestCase("WithoutFreeSpace")]
    [TestCase("WithouFreSpacExt")]
    public void Probe_BothMagics_AreParallels_AndCreateOptionsMatchQemu(string magic)
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-f", "parallels", dir["p.bin"], "1M").Ok();
        var bytes = File.ReadAllBytes(dir["p.bin"]);
        Encoding.ASCII.GetBytes(magic).CopyTo(bytes, 0);
        File.WriteAllBytes(dir["p.bin"], bytes);
        Assert.That(DiskImage.Probe(dir["p.bin"]), Is.EqualTo("parallels"));
        var help = Tools.QemuImg("create", "-f", "parallels", "-o", "help").Ok().Stdout.Split('\n')
            .Where(l => l.StartsWith("  ", StringComparison.Ordinal));
        var ours = ImageOptions.HelpLines(DiskImage.FindFormat("parallels")!.CreateOptions.Where(o => !o.Protocol).ToList());
        Assert.That(ours, Is.EqualTo(help));
    }
}
