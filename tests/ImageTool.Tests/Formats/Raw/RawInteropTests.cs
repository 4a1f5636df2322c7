using ImageTool.Operations;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Raw;

[Category("Qemu")]
public class RawInteropTests
{
    [Test]
    public void Read_QemuIoWrites_SeesSameBytes()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-q", "-f", "raw", dir["q.raw"], "8M").Ok();
        Tools.QemuIo("-f", "raw", "-c", "write -P 0xab 1M 64k", "-c", "write -P 0x11 7M 4k", dir["q.raw"]).Ok();
        using var image = DiskImage.Open(dir["q.raw"], new OpenOptions { Format = "raw" });
        var buffer = new byte[image.Length];
        image.Read(0, buffer);
        Assert.That(buffer, Is.EqualTo(File.ReadAllBytes(dir["q.raw"])));
        Assert.That(buffer[(1 << 20) + 100], Is.EqualTo(0xab));
    }

    [TestCase("off")]
    [TestCase("falloc")]
    [TestCase("full")]
    public void Create_Preallocation_QemuInfoAgrees(string mode)
    {
        using var dir = new TempDir();
        var options = new ImageTool.Options.ImageOptions().Set("preallocation", mode);
        DiskImage.Create(new CreateRequest(dir["a.raw"], "raw") { Size = 3 << 20, Options = options });
        Tools.QemuImg("create", "-q", "-f", "raw", "-o", $"preallocation={mode}", dir["b.raw"], "3M").Ok();
        using (var a = DiskImage.Open(dir["a.raw"]))
        using (var b = DiskImage.Open(dir["b.raw"]))
        {
            Assert.That(a.GetInfo().ActualSize, Is.EqualTo(b.GetInfo().ActualSize));
            Assert.That(a.Length, Is.EqualTo(b.Length));
        }
        Tools.QemuImg("compare", "-f", "raw", "-F", "raw", dir["a.raw"], dir["b.raw"]).Ok();
    }

    [Test]
    public void ReadWrite_BeyondFourGiB_Works()
    {
        using var dir = new TempDir();
        DiskImage.Create(new CreateRequest(dir["big.raw"], "raw") { Size = 6L << 30 });
        long at = (5L << 30) + 123;
        var data = SeededData.Bytes(100_000, 9);
        using (var image = DiskImage.Open(dir["big.raw"], new OpenOptions { Format = "raw", ReadOnly = false }))
        {
            image.Write(at, data);
            var back = new byte[data.Length];
            image.Read(at, back);
            Assert.That(back, Is.EqualTo(data));
            Assert.That(image.GetBlockStatus(at, 4096).State, Is.EqualTo(BlockState.Data));
            Assert.That(image.GetBlockStatus(1L << 30, 4096).State, Is.EqualTo(BlockState.Zero));
        }
        ConvertOperation.Run([dir["big.raw"]], dir["copy.raw"], new ConvertOptions());
        Tools.QemuImg("compare", "-f", "raw", "-F", "raw", dir["big.raw"], dir["copy.raw"]).Ok();
        using var copy = IO.HostFile.Open(dir["copy.raw"], true);
        Assert.That(copy.AllocatedBytes, Is.LessThan(1 << 20), "holes survive convert");
    }

    [Test]
    public void Convert_ConcatenatesSources()
    {
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["a.raw"], 1 << 20, 1, (0, 1 << 20));
        SeededData.WriteRaw(dir["b.raw"], 512 << 10, 2, (4096, 8192));
        ConvertOperation.Run([dir["a.raw"], dir["b.raw"]], dir["ab.raw"], new ConvertOptions());
        var expected = File.ReadAllBytes(dir["a.raw"]).Concat(File.ReadAllBytes(dir["b.raw"])).ToArray();
        Assert.That(File.ReadAllBytes(dir["ab.raw"]), Is.EqualTo(expected));
        Tools.QemuImg("convert", "-O", "raw", dir["a.raw"], dir["b.raw"], dir["qemu.raw"]).Ok();
        Assert.That(File.ReadAllBytes(dir["qemu.raw"]), Is.EqualTo(expected));
    }

    [Test]
    public void Convert_IntoExistingTarget_ZeroesWhatTheSourceDoesNotHold()
    {
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["src.raw"], 2 << 20, 3, (0, 4096));
        SeededData.WriteRaw(dir["dst.raw"], 4 << 20, 4, (0, 4 << 20));
        ConvertOperation.Run([dir["src.raw"]], dir["dst.raw"], new ConvertOptions { SkipCreate = true });
        var dst = File.ReadAllBytes(dir["dst.raw"]);
        Assert.That(dst.AsSpan(0, 2 << 20).ToArray(), Is.EqualTo(File.ReadAllBytes(dir["src.raw"])));
        Assert.That(dst.AsSpan(2 << 20).ContainsAnyExcept((byte)0), Is.True, "bytes past the source stay");
    }

    [Test]
    public void Convert_TargetSmallerThanSource_IsRefused()
    {
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["src.raw"], 2 << 20, 3, (0, 4096));
        SeededData.WriteRaw(dir["dst.raw"], 1 << 20, 4, (0, 4096));
        var e = Assert.Throws<ImageFormatException>(() =>
            ConvertOperation.Run([dir["src.raw"]], dir["dst.raw"], new ConvertOptions { SkipCreate = true }));
        Assert.That(e!.Message, Is.EqualTo("output file is smaller than input file"));
    }

    [Test]
    public void Progress_ReportsZeroAndHundred()
    {
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["src.raw"], 16 << 20, 3, (0, 4096), (8 << 20, 4 << 20));
        var seen = new List<double>();
        ConvertOperation.Run([dir["src.raw"]], dir["dst.raw"], new ConvertOptions { Progress = new SyncProgress<double>(seen.Add) });
        Assert.That(seen[0], Is.Zero);
        Assert.That(seen[^1], Is.EqualTo(100));
        Assert.That(seen, Is.Ordered);
    }
}
