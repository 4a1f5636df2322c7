using System.Buffers.Binary;
using ImageTool.Check;
using ImageTool.Info;
using ImageTool.Operations;
using ImageTool.Options;
using ImageTool.Tests.Support;
using static ImageTool.Tests.Formats.LegacyFormatSupport;

namespace ImageTool.Tests.Formats.Qed;

public class QedImageTests
{
    [TestCase(100L << 20, null, null, null)]
    [TestCase(100_001, null, null, null)]
    [TestCase(10L << 20, "4096", "8", null)]
    [TestCase(1L << 40, "1M", "16", null)]
    [TestCase(4L << 20, null, null, "qed")]
    [TestCase(4L << 20, null, "2", "raw")]
    public void Create_IsByteIdenticalToQemuImg(long size, string? clusterSize, string? tableSize, string? backingFormat)
    {
        using var dir = new TempDir();
        if (backingFormat != null) Tools.QemuImg("create", "-f", backingFormat, dir["base.img"], "4M").Ok();
        var options = new ImageOptions();
        var args = new List<string> { "create", "-f", "qed" };
        if (clusterSize != null)
        {
            options.Set("cluster_size", clusterSize);
            args.AddRange(["-o", $"cluster_size={clusterSize}"]);
        }
        if (tableSize != null)
        {
            options.Set("table_size", tableSize);
            args.AddRange(["-o", $"table_size={tableSize}"]);
        }
        if (backingFormat != null)
        {
            options.Set("backing_file", "base.img").Set("backing_fmt", backingFormat);
            args.AddRange(["-b", "base.img", "-F", backingFormat]);
        }
        DiskImage.Create(new CreateRequest(dir["img.qed"], "qed") { Size = size, Options = options });
        Tools.QemuImg([.. args, dir["qemu.qed"], size.ToString()]).Ok();
        Assert.That(File.ReadAllBytes(dir["img.qed"]), Is.EqualTo(File.ReadAllBytes(dir["qemu.qed"])));
        Assert.That(InfoHuman(dir["img.qed"]), Is.EqualTo(Tools.QemuImg("info", dir["img.qed"]).Ok().Stdout));
        Assert.That(InfoJson(dir["img.qed"]), Is.EqualTo(Tools.QemuImg("info", "--output=json", dir["img.qed"]).Ok().Stdout));
    }

    [TestCase("cluster_size=1000")]
    [TestCase("cluster_size=128M")]
    [TestCase("table_size=3")]
    [TestCase("table_size=32")]
    [TestCase("cluster_size=64M")]
    public void Create_OutOfRangeOption_FailsLikeQemu(string option)
    {
        using var dir = new TempDir();
        var (name, value) = (option.Split('=')[0], option.Split('=')[1]);
        var e = Assert.Throws<ImageCreateException>(() => DiskImage.Create(new CreateRequest(dir["x.qed"], "qed")
        {
            Size = 3 << 20,
            Options = new ImageOptions().Set(name, value),
        }));
        Assert.That(e!.Message, Is.EqualTo(QemuError(Tools.QemuImg("create", "-q", "-f", "qed", "-o", option, dir["q.qed"], "3M")).Replace(dir["q.qed"] + ": ", "")));
    }

    [Test]
    public void Read_QemuWrittenOverlay_WithBackingAndZeroClusters_BitExact_AndMapMatches()
    {
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["base.raw"], 4 << 20, 1, (0, 3 << 20));
        Tools.QemuImg("create", "-f", "qed", "-o", "cluster_size=4k", "-b", "base.raw", "-F", "raw", dir["ov.qed"]).Ok();
        Tools.QemuIo("-f", "qed", dir["ov.qed"], "-c", "write -P 0x11 5000 9000", "-c", "write -z 1M 64k", "-c", "write -P 0x22 2M 300k").Ok();
        Tools.QemuImg("convert", "-O", "raw", dir["ov.qed"], dir["ov.raw"]).Ok();
        using var image = DiskImage.Open(dir["ov.qed"]);
        Assert.That((image.BackingFileName, image.BackingFormat, image.Backing?.Format.Name), Is.EqualTo(("base.raw", "raw", "raw")));
        Assert.That(ReadAll(image), Is.EqualTo(File.ReadAllBytes(dir["ov.raw"])));
        var map = new StringWriter();
        MapOperation.Write(image, map, json: true);
        Assert.That(map.ToString(), Is.EqualTo(Tools.QemuImg("map", "--output=json", dir["ov.qed"]).Ok().Stdout));
        Assert.That(InfoHuman(dir["ov.qed"]), Is.EqualTo(Tools.QemuImg("info", dir["ov.qed"]).Ok().Stdout));
    }

    [Test]
    public void Write_RandomWritesOverBacking_QemuImgCompareAndCheckClean()
    {
        using var dir = new TempDir();
        const int size = 6 << 20;
        SeededData.WriteRaw(dir["base.raw"], size, 2, (0, size));
        var model = File.ReadAllBytes(dir["base.raw"]);
        var baseBytes = model.ToArray();
        DiskImage.Create(new CreateRequest(dir["w.qed"], "qed")
        {
            Options = new ImageOptions().Set("backing_file", "base.raw").Set("backing_fmt", "raw").Set("cluster_size", "16k"),
        });
        var random = new Random(6);
        using (var image = DiskImage.Open(dir["w.qed"], new OpenOptions { ReadOnly = false }))
        {
            for (int i = 0; i < 150; i++)
            {
                int length = random.Next(1, 200_000);
                int offset = random.Next(0, size - length);
                var data = SeededData.Bytes(length, i + 1000);
                image.Write(offset, data);
                data.CopyTo(model, offset);
            }
            image.WriteZeroes(1 << 20, 100_000, mayDeallocate: true);
            model.AsSpan(1 << 20, 100_000).Clear();
            Assert.That(ReadAll(image), Is.EqualTo(model));
        }
        File.WriteAllBytes(dir["model.raw"], model);
        Assert.That(Tools.QemuImg("compare", "-f", "qed", "-F", "raw", dir["w.qed"], dir["model.raw"]).Ok().Stdout, Does.Contain("identical"));
        Assert.That(Tools.QemuImg("check", dir["w.qed"]).Ok().Stdout, Does.StartWith("No errors were found on the image."));
        Assert.That(File.ReadAllBytes(dir["base.raw"]), Is.EqualTo(baseBytes), "the base is never written");
    }

    [Test]
    public void Write_SameRequestsAsQemuIo_GiveTheSameFile()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-f", "qed", dir["q.qed"], "8M").Ok();
        File.Copy(dir["q.qed"], dir["i.qed"]);
        Tools.QemuIo("-f", "qed", dir["q.qed"], "-c", "write -P 0x44 1M 4k", "-c", "write -P 0x55 100 200k", "-c", "write -P 0x66 1M 128k").Ok();
        using (var image = DiskImage.Open(dir["i.qed"], new OpenOptions { ReadOnly = false }))
        {
            image.Write(1 << 20, Enumerable.Repeat((byte)0x44, 4096).ToArray());
            image.Write(100, Enumerable.Repeat((byte)0x55, 200 << 10).ToArray());
            image.Write(1 << 20, Enumerable.Repeat((byte)0x66, 128 << 10).ToArray());
        }
        Assert.That(File.ReadAllBytes(dir["i.qed"]), Is.EqualTo(File.ReadAllBytes(dir["q.qed"])));
    }

    [Test]
    public void NeedCheck_SetWhileAllocating_ClearedOnClose_AndInfoNeverDirty()
    {
        using var dir = new TempDir();
        string path = dir["n.qed"];
        DiskImage.Create(new CreateRequest(path, "qed") { Size = 4 << 20 });
        using (var image = DiskImage.Open(path, new OpenOptions { ReadOnly = false }))
        {
            image.Write(0, new byte[] { 1, 2, 3 });
            Assert.That(Features(path) & 2, Is.EqualTo(2UL), "need-check set while allocating without a backing file");
            var info = InfoOperation.Collect(path, new OpenOptions { ForceShare = true }, backingChain: false);
            Assert.That(ImageInfoFormatter.Json(info, asList: false), Is.EqualTo(Tools.QemuImg("info", "-U", "--output=json", path).Ok().Stdout));
        }
        Assert.That(Features(path) & 2, Is.Zero);
    }

    [Test]
    public void NeedCheck_ReadWriteOpen_RepairsInvalidOffsetsAndClearsTheBit_AsQemu()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-f", "qed", dir["q.qed"], "10M").Ok();
        Tools.QemuIo("-f", "qed", dir["q.qed"], "-c", "write -P 1 1M 4k", "-c", "write -P 2 0 4k").Ok();
        var bytes = File.ReadAllBytes(dir["q.qed"]);
        long l2 = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan((int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(40))));
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan((int)l2 + 8 * 16), 0x10000000); // cluster at 1M -> past the end
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16), 2); // need check
        File.WriteAllBytes(dir["ours.qed"], bytes);
        File.WriteAllBytes(dir["theirs.qed"], bytes);
        // Read-only opens leave it alone; the read of the damaged cluster fails.
        using (var image = DiskImage.Open(dir["ours.qed"]))
            Assert.Throws<ImageIOException>(() => image.Read(1 << 20, new byte[512]));
        DiskImage.Open(dir["ours.qed"], new OpenOptions { ReadOnly = false }).Dispose();
        Tools.QemuIo("-f", "qed", dir["theirs.qed"], "-c", "read 0 512").Ok();
        Assert.That(File.ReadAllBytes(dir["ours.qed"]), Is.EqualTo(File.ReadAllBytes(dir["theirs.qed"])));
        Assert.That(Features(dir["ours.qed"]), Is.Zero);
    }

    private static ulong Features(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var head = new byte[24];
        stream.ReadExactly(head);
        return BinaryPrimitives.ReadUInt64LittleEndian(head.AsSpan(16));
    }

    /// <summary>A qemu image with clusters at 0 (host 0xa0000), 1M (0x50000) and 3M (0xb0000, 0xc0000), then one patch.</summary>
    private static string Damaged(TempDir dir, Action<byte[], int> patch)
    {
        string path = dir["k.qed"];
        Tools.QemuImg("create", "-f", "qed", path, "10M").Ok();
        Tools.QemuIo("-f", "qed", path, "-c", "write 1M 4k", "-c", "write 0 4k", "-c", "write 3M 128k").Ok();
        var bytes = File.ReadAllBytes(path);
        int l2 = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan((int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(40))));
        patch(bytes, l2);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static readonly Dictionary<string, Action<byte[], int>> Damages = new()
    {
        ["clean"] = (_, _) => { },
        ["cluster past the end"] = (b, l2) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(l2 + 8 * 16), 0x10000000),
        ["cluster used twice"] = (b, l2) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(l2 + 8 * 16), 0xa0000),
        ["unaligned cluster"] = (b, l2) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(l2 + 8 * 16), 0x50200),
        ["L2 table past the end"] = (b, _) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(0x10000), 0x40000000),
        ["zero cluster"] = (b, l2) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(l2 + 8 * 16), 1),
        ["leaked clusters"] = (b, l2) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(l2 + 8 * 48), 0),
    };

    private static IEnumerable<string> DamageNames => Damages.Keys;

    [TestCaseSource(nameof(DamageNames))]
    public void Check_AndRepair_ReportAsQemu(string damage)
    {
        using var dir = new TempDir();
        string path = Damaged(dir, Damages[damage]);
        File.Copy(path, dir["theirs.qed"]);
        var qemu = Tools.QemuImg("check", path);
        using (var image = DiskImage.Open(path))
        {
            var result = CheckOperation.Run(image, CheckRepair.None, _ => { });
            Assert.That((result.ExitCode, CheckOperation.Human(result)), Is.EqualTo((qemu.ExitCode, qemu.Stdout)));
            Assert.That(CheckOperation.Json(result, path, "qed"), Is.EqualTo(Tools.QemuImg("check", "--output=json", path).Stdout));
        }
        var qemuRepair = Tools.QemuImg("check", "-r", "all", dir["theirs.qed"]);
        using (var image = DiskImage.Open(path, new OpenOptions { ReadOnly = false, ForRepair = true }))
        {
            var result = CheckOperation.Run(image, CheckRepair.All, _ => { });
            Assert.That((result.ExitCode, CheckOperation.Human(result)), Is.EqualTo((qemuRepair.ExitCode, qemuRepair.Stdout)));
        }
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(File.ReadAllBytes(dir["theirs.qed"])));
    }

    [TestCase(4, 0x800u)]        // cluster size below 4k
    [TestCase(4, 0x3000u)]       // cluster size not a power of 2
    [TestCase(8, 3u)]            // table size
    [TestCase(8, 1u)]            // table size 1: qemu's own table-offset check refuses it
    [TestCase(48, 1u)]           // image size not a multiple of 512
    [TestCase(40, 0x100000u)]    // L1 table past the end
    [TestCase(16, 8u)]           // unknown feature
    [TestCase(60, 0x10000u)]     // backing name too long for the header cluster
    public void Open_BadHeaderField_FailsLikeQemu(int offset, uint value)
    {
        using var dir = new TempDir();
        string path = dir["b.qed"];
        Tools.QemuImg("create", "-u", "-f", "qed", "-b", "base.qed", "-F", "qed", path, "10M").Ok();
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(offset), value);
        File.WriteAllBytes(path, bytes);
        Assert.That(OpenError(path, new OpenOptions { Format = "qed", OpenBacking = false }),
            Is.EqualTo(QemuError(Tools.QemuImg("info", "-f", "qed", path))));
    }

    [Test]
    public void Open_TruncatedFiles_FailLikeQemu()
    {
        using var dir = new TempDir();
        string path = dir["t.qed"];
        foreach (int length in new[] { 4, 30, 100, 100_000 })
        {
            Tools.QemuImg("create", "-f", "qed", path, "10M").Ok();
            using (var stream = new FileStream(path, FileMode.Open)) stream.SetLength(length);
            Assert.That(DiskImage.Probe(path), Is.EqualTo("qed"), $"{length} bytes");
            Assert.That(OpenError(path), Is.EqualTo(QemuError(Tools.QemuImg("info", path))), $"{length} bytes");
        }
    }

    [Test]
    public void Resize_Grow_IsByteIdenticalToQemuImg_ShrinkRefused()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-f", "qed", dir["q.qed"], "10M").Ok();
        Tools.QemuIo("-f", "qed", dir["q.qed"], "-c", "write -P 1 0 4k").Ok();
        File.Copy(dir["q.qed"], dir["i.qed"]);
        Tools.QemuImg("resize", dir["q.qed"], "+7M").Ok();
        using (var image = DiskImage.Open(dir["i.qed"], new OpenOptions { ReadOnly = false }))
            ResizeOperation.Run(image, 17 << 20);
        Assert.That(File.ReadAllBytes(dir["i.qed"]), Is.EqualTo(File.ReadAllBytes(dir["q.qed"])));
        using var again = DiskImage.Open(dir["i.qed"], new OpenOptions { ReadOnly = false });
        var e = Assert.Throws(Is.InstanceOf<ImageFormatException>(), () => ResizeOperation.Run(again, 1 << 20, shrink: true));
        Assert.That(e!.Message, Is.EqualTo(QemuError(Tools.QemuImg("resize", "--shrink", dir["q.qed"], "1M"))));
    }

    [Test]
    public void Commit_IntoBase_QemuComparesClean_AndOverlayKeptAsQemu()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-f", "qed", dir["base.qed"], "4M").Ok();
        Tools.QemuIo("-f", "qed", dir["base.qed"], "-c", "write -P 0x11 0 4M").Ok();
        Tools.QemuImg("create", "-f", "qed", "-b", "base.qed", "-F", "qed", dir["ov.qed"]).Ok();
        Tools.QemuIo("-f", "qed", dir["ov.qed"], "-c", "write -P 0x22 100k 3k", "-c", "write -P 0x33 1M 64k").Ok();
        Tools.QemuImg("convert", "-O", "raw", dir["ov.qed"], dir["expected.raw"]).Ok();
        var overlay = File.ReadAllBytes(dir["ov.qed"]);
        CommitOperation.Run(dir["ov.qed"], new CommitOptions());
        Assert.That(Tools.QemuImg("compare", "-f", "qed", "-F", "raw", dir["base.qed"], dir["expected.raw"]).Ok().Stdout, Does.Contain("identical"));
        Assert.That(Tools.QemuImg("check", dir["base.qed"]).Ok().ExitCode, Is.Zero);
        Assert.That(File.ReadAllBytes(dir["ov.qed"]), Is.EqualTo(overlay), "qed cannot be emptied: qemu-img leaves the overlay as it was");
    }

    [Test]
    public void Convert_BothWays_WithQemuImg_AndRebaseAsQemu()
    {
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["src.raw"], 5 << 20, 3, (100_000, 900_000), (3 << 20, 4096));
        ConvertOperation.Run([dir["src.raw"]], dir["ours.qed"], new ConvertOptions { OutputFormat = "qed" });
        Assert.That(Tools.QemuImg("compare", "-f", "qed", "-F", "raw", dir["ours.qed"], dir["src.raw"]).Ok().Stdout, Does.Contain("identical"));
        Assert.That(Tools.QemuImg("check", dir["ours.qed"]).Ok().ExitCode, Is.Zero);
        Tools.QemuImg("convert", "-O", "qed", dir["src.raw"], dir["qemu.qed"]).Ok();
        ConvertOperation.Run([dir["qemu.qed"]], dir["back.raw"], new ConvertOptions { OutputFormat = "raw" });
        Assert.That(File.ReadAllBytes(dir["back.raw"]), Is.EqualTo(File.ReadAllBytes(dir["src.raw"])));
        File.Copy(dir["qemu.qed"], dir["mine.qed"]);
        Tools.QemuImg("rebase", "-u", "-b", "src.raw", "-F", "raw", dir["qemu.qed"]).Ok();
        RebaseOperation.Run(new RebaseOptions(dir["mine.qed"], "src.raw") { Unsafe = true, NewBackingFormat = "raw" });
        Assert.That(File.ReadAllBytes(dir["mine.qed"]), Is.EqualTo(File.ReadAllBytes(dir["qemu.qed"])));
    }

    [Test]
    public void Probe_QedMagic_IsQed_AndCreateOptionsMatchQemu()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-f", "qed", dir["p.bin"], "1M").Ok();
        Assert.That(DiskImage.Probe(dir["p.bin"]), Is.EqualTo("qed"));
        var help = Tools.QemuImg("create", "-f", "qed", "-o", "help").Ok().Stdout.Split('\n')
            .Where(l => l.StartsWith("  ", StringComparison.Ordinal));
        var ours = ImageOptions.HelpLines(DiskImage.FindFormat("qed")!.CreateOptions.Where(o => !o.Protocol).ToList());
        Assert.That(ours, Is.EqualTo(help));
    }
}
