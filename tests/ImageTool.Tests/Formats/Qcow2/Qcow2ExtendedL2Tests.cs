using ImageTool.Info;
using ImageTool.Operations;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Qcow2;

/// <summary>Extended L2 entries (subclusters) and external data files, against qemu-img/qemu-io 7.2.</summary>
public class Qcow2ExtendedL2Tests
{
    internal static byte[] QemuRead(TempDir dir, string path)
    {
        string raw = dir["qemu-out.raw"];
        Tools.QemuImg("convert", "-O", "raw", path, raw).Ok();
        return File.ReadAllBytes(raw);
    }

    internal static byte[] ImgRead(string path)
    {
        using var image = DiskImage.Open(path);
        var data = new byte[image.Length];
        image.Read(0, data);
        return data;
    }

    internal static string ImgInfo(string path, bool json)
    {
        using var image = DiskImage.Open(path, new OpenOptions { OpenBacking = false, MetadataOnly = true });
        var info = InfoOperation.Describe(image);
        return json ? ImageInfoFormatter.Json([info], false) : ImageInfoFormatter.Human([info]);
    }

    internal static (string Output, int ExitCode) ImgCheck(string path)
    {
        using var image = DiskImage.Open(path);
        var result = CheckOperation.Run(image, ImageTool.Check.CheckRepair.None, _ => { });
        return (CheckOperation.Human(result), result.ExitCode);
    }

    [TestCase(65536)]
    [TestCase(16384)]
    [TestCase(2 << 20)]
    public void Read_QemuWrittenSubclusters_MatchesQemuIncludingBacking(int clusterSize)
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-q", "-f", "qcow2", dir["base.qcow2"], "8M").Ok();
        Tools.QemuIo("-c", "write -P 0x33 0 8M", dir["base.qcow2"]).Ok();
        string path = dir["e.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", $"extended_l2=on,cluster_size={clusterSize}", "-b", "base.qcow2", "-F", "qcow2", path, "8M").Ok();
        int sc = clusterSize / 32;
        Tools.QemuIo("-c", $"write -P 0x11 0 {sc}", "-c", $"write -P 0x22 {sc * 3} {sc * 2}", "-c", $"write -z {sc * 8} {sc * 4}",
            "-c", $"write -z {clusterSize} {clusterSize}", "-c", "write -P 0x44 1000k 300k", "-c", $"discard {3 << 20} {clusterSize}", path).Ok();
        Assert.That(ImgRead(path), Is.EqualTo(QemuRead(dir, path)));
        Assert.That(ImgCheck(path).ExitCode, Is.Zero);
    }

    [Test]
    public void Read_QemuCompressedClustersInExtendedL2Image_MatchesQemu()
    {
        using var dir = new TempDir();
        string src = dir["src.raw"];
        SeededData.WriteRaw(src, 4 << 20, 7, (0, 1 << 20), (3 << 20, 200 << 10));
        string path = dir["c.qcow2"];
        Tools.QemuImg("convert", "-c", "-O", "qcow2", "-o", "extended_l2=on", src, path).Ok();
        Assert.That(ImgRead(path), Is.EqualTo(File.ReadAllBytes(src)));
    }

    [TestCase("extended_l2=on")]
    [TestCase("extended_l2=on,cluster_size=16k")]
    [TestCase("extended_l2=on,preallocation=metadata")]
    [TestCase("extended_l2=on,cluster_size=2M,lazy_refcounts=on")]
    public void Create_ExtendedL2_ByteIdenticalToQemuAndInfoEqual(string options)
    {
        using var dir = new TempDir();
        Qcow2InteropTests.Create(dir["i.qcow2"], 20 << 20, options);
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", options, dir["q.qcow2"], "20M").Ok();
        Assert.That(File.ReadAllBytes(dir["i.qcow2"]), Is.EqualTo(File.ReadAllBytes(dir["q.qcow2"])));
        string qemu = Tools.QemuImg("info", dir["q.qcow2"]).Ok().Stdout;
        Assert.That(qemu, Does.Contain("extended l2: true"));
        Assert.That(ImgInfo(dir["q.qcow2"], json: false), Is.EqualTo(qemu));
        Assert.That(ImgInfo(dir["q.qcow2"], json: true), Is.EqualTo(Tools.QemuImg("info", "--output=json", dir["q.qcow2"]).Ok().Stdout));
    }

    [TestCase("extended_l2=on,cluster_size=8k", "Extended L2 entries are only supported with cluster sizes of at least 16384 bytes")]
    [TestCase("extended_l2=on,compat=0.10", "Extended L2 entries are only supported with compatibility level 1.1 and above (use version=v3 or greater)")]
    public void Create_InvalidExtendedL2_FailsWithQemuMessage(string options, string message)
    {
        using var dir = new TempDir();
        var e = Assert.Catch<ImageFormatException>(() => Qcow2InteropTests.Create(dir["x.qcow2"], 1 << 20, options));
        Assert.That(e!.Message, Is.EqualTo(message));
        Assert.That(Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", options, dir["q.qcow2"], "1M").Stderr, Does.Contain(message));
    }

    [TestCase("extended_l2=on", true, 1)]
    [TestCase("extended_l2=on,cluster_size=16k", true, 2)]
    [TestCase("extended_l2=on,lazy_refcounts=on", false, 3)]
    [TestCase("extended_l2=on,data_file=DATA", false, 4)]
    [TestCase("extended_l2=on,data_file=DATA,data_file_raw=on,cluster_size=32k", false, 5)]
    public void Write_RandomSubclusterWritesAndZeroes_QemuCheckAndCompareClean(string options, bool withBacking, int seed)
    {
        using var dir = new TempDir();
        const int size = 6 << 20;
        var random = new Random(seed);
        var model = new byte[size];
        string? backing = null;
        if (withBacking)
        {
            backing = dir["base.raw"];
            model = SeededData.Bytes(size, seed + 1000);
            File.WriteAllBytes(backing, model);
        }
        string path = dir["e.qcow2"];
        Qcow2InteropTests.Create(path, size, options.Replace("DATA", dir["d.raw"], StringComparison.Ordinal), backing, backing == null ? null : "raw");
        using (var image = Qcow2InteropTests.OpenRw(path))
        {
            image.AttachBacking(backing == null ? null : DiskImage.Open(backing, new OpenOptions { Format = "raw" }));
            for (int n = 0; n < 80; n++)
            {
                // Mostly small, unaligned writes so that subclusters are partly written.
                int length = n % 5 == 0 ? random.Next(1, 200_000) : random.Next(1, 3000);
                int offset = random.Next(size - length);
                ModelWrites.Apply(image, model, offset, length, zero: n % 6 == 5, mayDeallocate: n % 12 == 5, seed * 100 + n);
            }
        }
        File.WriteAllBytes(dir["model.raw"], model);
        Tools.QemuImg("check", path).Ok();
        Tools.QemuImg("compare", dir["model.raw"], path).Ok();
        Assert.That(ImgRead(path), Is.EqualTo(model));
        Assert.That(ImgCheck(path).ExitCode, Is.Zero);
        // And back: qemu writes more subclusters into img's image, img reads them.
        Tools.QemuIo("-c", "write -P 0x5a 12345 7000", "-c", "write -z 1M 64k", path).Ok();
        model.AsSpan(12345, 7000).Fill(0x5a);
        model.AsSpan(1 << 20, 64 << 10).Clear();
        Assert.That(ImgRead(path), Is.EqualTo(model));
    }

    [Test]
    public void Write_PartialSubcluster_OnlyTouchedSubclustersAllocatedAsQemu()
    {
        using var dir = new TempDir();
        Qcow2InteropTests.Create(dir["i.qcow2"], 1 << 20, "extended_l2=on");
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", "extended_l2=on", dir["q.qcow2"], "1M").Ok();
        using (var image = Qcow2InteropTests.OpenRw(dir["i.qcow2"]))
        {
            image.Write(0, new byte[4096]);
            image.Write(8192, new byte[2048]);
            image.WriteZeroes(65536, 65536, mayDeallocate: true);
        }
        Tools.QemuIo("-c", "write -P 0 0 4k", "-c", "write -P 0 8k 2k", "-c", "write -z 64k 64k", dir["q.qcow2"]).Ok();
        Assert.That(File.ReadAllBytes(dir["i.qcow2"]), Is.EqualTo(File.ReadAllBytes(dir["q.qcow2"])));
    }
}
