using ImageTool.Info;
using ImageTool.Options;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Qcow2;

public class Qcow2InteropTests
{
    internal static void Create(string path, long? size, string options = "", string? backing = null, string? backingFormat = null)
    {
        var o = new ImageOptions();
        if (options.Length > 0) o.Parse(options);
        if (backing != null) o.Set("backing_file", backing);
        if (backingFormat != null) o.Set("backing_fmt", backingFormat);
        DiskImage.Create(new CreateRequest(path, "qcow2") { Size = size, Options = o });
    }

    internal static IImage OpenRw(string path) => DiskImage.Open(path, new OpenOptions { ReadOnly = false, Format = "qcow2" });

    private static string QemuInfo(string path) =>
        Tools.QemuImg("info", "--output=json", path).Ok().Stdout;

    private static string ImgInfo(string path)
    {
        using var image = DiskImage.Open(path, new OpenOptions { OpenBacking = false });
        return ImageInfoFormatter.Json([ImageTool.Operations.InfoOperation.Describe(image)], false);
    }

    [TestCase("", 1L << 30)]
    [TestCase("compat=0.10", 1L << 20)]
    [TestCase("cluster_size=512,refcount_bits=1", 64L << 20)]
    [TestCase("cluster_size=2M,refcount_bits=64", 64L << 20)]
    [TestCase("cluster_size=4k,refcount_bits=8,lazy_refcounts=on", 100L << 20)]
    [TestCase("", 0L)]
    [TestCase("", 1000L)]
    [TestCase("preallocation=metadata", 64L << 20)]
    [TestCase("preallocation=falloc,cluster_size=16k", 16L << 20)]
    [TestCase("preallocation=full", 8L << 20)]
    public void Create_MatchesQemuLayout_CheckCleanAndInfoEqual(string options, long size)
    {
        using var dir = new TempDir();
        Create(dir["img.qcow2"], size, options);
        Tools.QemuImg("check", dir["img.qcow2"]).Ok();
        var o = options.Length == 0 ? [] : new[] { "-o", options };
        Tools.QemuImg(["create", "-q", "-f", "qcow2", .. o, dir["q.qcow2"], size.ToString(System.Globalization.CultureInfo.InvariantCulture)]).Ok();
        // With preallocation qemu moves its refcount table first, so the host blocks differ slightly: skip actual-size there.
        bool prealloc = options.Contains("prealloc", StringComparison.Ordinal);
        string Normalize(string json) => prealloc ? System.Text.RegularExpressions.Regex.Replace(json, "\"actual-size\": \\d+", "") : json;
        Assert.That(Normalize(ImgInfo(dir["img.qcow2"]).Replace("img.qcow2", "q.qcow2", StringComparison.Ordinal)), Is.EqualTo(Normalize(QemuInfo(dir["q.qcow2"]))));
        Assert.That(Normalize(QemuInfo(dir["img.qcow2"]).Replace("img.qcow2", "q.qcow2", StringComparison.Ordinal)), Is.EqualTo(Normalize(QemuInfo(dir["q.qcow2"]))));
        Assert.That(new FileInfo(dir["img.qcow2"]).Length, Is.EqualTo(new FileInfo(dir["q.qcow2"]).Length));
        if (!options.Contains("prealloc", StringComparison.Ordinal))
            Assert.That(File.ReadAllBytes(dir["img.qcow2"]), Is.EqualTo(File.ReadAllBytes(dir["q.qcow2"])));
    }

    [Test]
    public void Create_WithBacking_HeaderByteIdenticalToQemu()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-q", "-f", "qcow2", dir["base.qcow2"], "4M").Ok();
        Create(dir["img.qcow2"], null, "", "base.qcow2", "qcow2");
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", dir["q.qcow2"]).Ok();
        Assert.That(File.ReadAllBytes(dir["img.qcow2"]), Is.EqualTo(File.ReadAllBytes(dir["q.qcow2"])));
    }

    [Test]
    public void Read_QemuWrittenImage_MatchesRawConversion()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", dir["q.qcow2"], "8M").Ok();
        Tools.QemuIo("-c", "write -P 0xab 0 64k", "-c", "write -P 0xcd 1M 3k", "-c", "write -z 16k 8k", "-c", "write -P 0x11 7M 1M",
            "-c", "discard 7M 4k", dir["q.qcow2"]).Ok();
        Tools.QemuImg("convert", "-O", "raw", dir["q.qcow2"], dir["q.raw"]).Ok();
        using var image = DiskImage.Open(dir["q.qcow2"]);
        var actual = new byte[image.Length];
        image.Read(0, actual);
        Assert.That(actual.AsSpan().SequenceEqual(File.ReadAllBytes(dir["q.raw"])), Is.True);
        var status = image.GetBlockStatus(0, image.Length);
        Assert.That((status.State, status.Length, status.HostOffset.HasValue), Is.EqualTo((BlockState.Data, 16384L, true)));
        status = image.GetBlockStatus(16384, image.Length - 16384);
        Assert.That((status.State, status.Length), Is.EqualTo((BlockState.Zero, 8192L)));
        // As in qemu, a run ends with its L2 table (512 entries of 4 KiB: 2 MiB).
        status = image.GetBlockStatus(2 << 20, image.Length - (2 << 20));
        Assert.That((status.State, status.Length), Is.EqualTo((BlockState.Unallocated, 2L << 20)));
    }

    [Test]
    public void Write_ThenQemuReadsSameBytes()
    {
        using var dir = new TempDir();
        Create(dir["img.qcow2"], 16 << 20, "cluster_size=64k");
        var data = SeededData.Bytes(3 << 20, 5);
        using (var image = OpenRw(dir["img.qcow2"]))
        {
            image.Write(12345, data);
            image.Write(9 << 20, data.AsSpan(0, 4096));
            image.WriteZeroes(1 << 20, 1 << 20, true);
        }
        Tools.QemuImg("check", dir["img.qcow2"]).Ok();
        var expected = new byte[16 << 20];
        data.CopyTo(expected, 12345);
        data.AsSpan(0, 4096).CopyTo(expected.AsSpan(9 << 20));
        expected.AsSpan(1 << 20, 1 << 20).Clear();
        File.WriteAllBytes(dir["e.raw"], expected);
        Tools.QemuImg("compare", "-f", "qcow2", "-F", "raw", dir["img.qcow2"], dir["e.raw"]).Ok();
    }

    [Test]
    public void Write_IntoQemuImage_ThenQemuIoVerifies()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-q", "-f", "qcow2", dir["q.qcow2"], "4M").Ok();
        Tools.QemuIo("-c", "write -P 0xab 0 128k", dir["q.qcow2"]).Ok();
        using (var image = OpenRw(dir["q.qcow2"]))
            image.Write(4096, Enumerable.Repeat((byte)0x5a, 8192).ToArray());
        Tools.QemuImg("check", dir["q.qcow2"]).Ok();
        var r = Tools.QemuIo("-c", "read -P 0xab 0 4k", "-c", "read -P 0x5a 4k 8k", "-c", "read -P 0xab 12k 116k", dir["q.qcow2"]).Ok();
        Assert.That(r.Stdout, Does.Not.Contain("failed"));
    }

    [Test]
    public void Write_PartialClusterOverBacking_CopiesBaseAndLeavesBaseUntouched()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-q", "-f", "raw", dir["base.raw"], "1M").Ok();
        Tools.QemuIo("-f", "raw", "-c", "write -P 0x77 0 1M", dir["base.raw"]).Ok();
        byte[] baseBefore = File.ReadAllBytes(dir["base.raw"]);
        Create(dir["ov.qcow2"], 4 << 20, "", "base.raw", "raw");
        using (var image = OpenRw(dir["ov.qcow2"]))
        {
            image.Write(65536 + 100, new byte[] { 1, 2, 3 });
            image.Write((1 << 20) - 10, new byte[20]);
            var buffer = new byte[65536];
            image.Read(65536, buffer);
            Assert.That(buffer[99], Is.EqualTo(0x77));
            Assert.That(buffer[100], Is.EqualTo(1));
            Assert.That(buffer[103], Is.EqualTo(0x77));
        }
        Assert.That(File.ReadAllBytes(dir["base.raw"]).AsSpan().SequenceEqual(baseBefore), Is.True);
        Tools.QemuImg("check", dir["ov.qcow2"]).Ok();
        var r = Tools.QemuIo("-c", "read -P 0x77 0 65636", "-c", "read -P 1 65636 1", "-c", "read -P 0x77 65639 917465", "-c", "read -P 0 1048566 3145738", dir["ov.qcow2"]).Ok();
        Assert.That(r.Stdout, Does.Not.Contain("failed"));
    }
}
