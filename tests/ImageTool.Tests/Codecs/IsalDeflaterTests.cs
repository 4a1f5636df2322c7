using ImageTool.Codecs;
using ImageTool.Operations;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Codecs;

/// <summary>convert -c's default zlib encoder (ISA-L): valid for qemu's 4 KiB-window inflater, not qemu's bytes.</summary>
[Category("Qemu")]
public class IsalDeflaterTests
{
    private const int Cluster = 65536;

    [SetUp]
    public void SetUp()
    {
        Tools.Require("qemu-img");
        if (IsalNative.IsAvailable) return;
        if (Tools.InCi) Assert.Fail("libisal.so.2 (Debian's libisal2) is required under CI=true");
        Assert.Ignore("libisal.so.2 is not installed");
    }

    /// <summary>Every cluster repeats an 8 KiB block: a 32 KiB-window encoder would reach back past qemu's 4 KiB window.</summary>
    private static byte[] FarRepeats(int clusters)
    {
        var block = SeededData.Bytes(8192, 11);
        var data = new byte[clusters * Cluster];
        for (int at = 0; at < data.Length; at += block.Length) block.CopyTo(data, at);
        return data;
    }

    [Test]
    public void Compress_FarRepeats_ShrinkWithoutReachingPastFourKiB()
    {
        byte[] data = FarRepeats(1);
        var stream = new byte[Cluster - 1];
        int n = IsalDeflater.ForCurrentThread!.Compress(data, stream);
        // Only matches within 4 KiB: the 8 KiB period cannot be used, so the data (random bytes) barely shrinks,
        // while zlib with qemu's window does the same; a 32 KiB window would squeeze it to a few hundred bytes.
        int zlib = RawDeflater.ForCurrentThread.Compress(data, new byte[Cluster - 1]);
        Assert.That(n, Is.EqualTo(-1).Or.GreaterThan(Cluster / 2));
        Assert.That(zlib, Is.EqualTo(-1).Or.GreaterThan(Cluster / 2));
    }

    [Test]
    public void ConvertCompressed_Default_QemuReadsEveryClusterAndCheckIsClean()
    {
        using var dir = new TempDir();
        // Real files (compressible text and binaries) and far repeats, 4 MiB each.
        var real = new byte[4 << 20];
        int filled = 0;
        foreach (var file in Directory.EnumerateFiles("/usr/share/common-licenses"))
        {
            var bytes = File.ReadAllBytes(file);
            int n = Math.Min(bytes.Length, real.Length - filled);
            bytes.AsSpan(0, n).CopyTo(real.AsSpan(filled));
            filled += n;
            if (filled == real.Length) break;
        }
        File.WriteAllBytes(dir["in.raw"], [.. real, .. FarRepeats(64)]);
        ConvertOperation.Run([dir["in.raw"]], dir["img.qcow2"], new ConvertOptions { OutputFormat = "qcow2", Compress = true });
        ConvertOperation.Run([dir["in.raw"]], dir["identical.qcow2"], new ConvertOptions { OutputFormat = "qcow2", Compress = true, QemuIdenticalCompression = true });
        Tools.QemuImg("convert", "-c", "-f", "raw", "-O", "qcow2", dir["in.raw"], dir["q.qcow2"]).Ok();

        Tools.QemuImg("check", dir["img.qcow2"]).Ok();
        Tools.QemuImg("compare", "-f", "raw", "-F", "qcow2", dir["in.raw"], dir["img.qcow2"]).Ok();
        Assert.That(File.ReadAllBytes(dir["identical.qcow2"]), Is.EqualTo(File.ReadAllBytes(dir["q.qcow2"])));
        // The fast encoder is in use (other bytes), and its output stays near qemu's size.
        long fast = new FileInfo(dir["img.qcow2"]).Length, qemu = new FileInfo(dir["q.qcow2"]).Length;
        Assert.That(File.ReadAllBytes(dir["img.qcow2"]), Is.Not.EqualTo(File.ReadAllBytes(dir["q.qcow2"])));
        Assert.That(fast, Is.LessThanOrEqualTo(qemu * 115 / 100), $"ISA-L {fast} bytes vs qemu-img {qemu}");
    }

    [Test]
    public void ConvertCompressed_QcowDefault_QemuReadsIt()
    {
        using var dir = new TempDir();
        var data = new byte[2 << 20];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)("qcow cluster text "[i % 18] ^ (i / 9000 % 3));
        File.WriteAllBytes(dir["in.raw"], [.. data, .. FarRepeats(8)]);
        ConvertOperation.Run([dir["in.raw"]], dir["img.qcow"], new ConvertOptions { OutputFormat = "qcow", Compress = true });
        Tools.QemuImg("compare", "-f", "raw", "-F", "qcow", dir["in.raw"], dir["img.qcow"]).Ok();
    }
}
