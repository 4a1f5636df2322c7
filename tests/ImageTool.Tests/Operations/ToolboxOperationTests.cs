using System.Text.Json;
using ImageTool.Operations;
using ImageTool.Options;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Operations;

/// <summary>measure, compare and map through the library API, checked against qemu-img's numbers.</summary>
[Category("Qemu")]
public class ToolboxOperationTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp()
    {
        Tools.Require("qemu-img");
        _dir = new TempDir();
        SeededData.WriteRaw(_dir["a.raw"], 8 << 20, 3, (4096, 100000), (5 << 20, 70000));
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [TestCase("1G", "")]
    [TestCase("12345678", "cluster_size=4k")]
    [TestCase("3T", "cluster_size=2M,refcount_bits=64")]
    [TestCase("100G", "cluster_size=512,refcount_bits=1")]
    [TestCase("1M", "preallocation=full")]
    public void Measure_Qcow2FromSize_MatchesQemuImg(string size, string options)
    {
        var args = new List<string> { "measure", "--output=json", "-O", "qcow2", "--size", size };
        if (options.Length > 0) args.AddRange(["-o", options]);
        using var qemu = JsonDocument.Parse(Tools.QemuImg([.. args]).Ok().Stdout);
        SizeParser.TryParse(size, out long bytes, out _);
        var parsed = options.Length > 0 ? new ImageOptions().Parse(options) : new ImageOptions();
        var mine = MeasureOperation.Measure("qcow2", parsed, bytes, null);
        Assert.That(mine.Required, Is.EqualTo(qemu.RootElement.GetProperty("required").GetInt64()));
        Assert.That(mine.FullyAllocated, Is.EqualTo(qemu.RootElement.GetProperty("fully-allocated").GetInt64()));
    }

    [Test]
    public void Measure_Qcow2FromSparseRaw_CountsOnlyDataClusters()
    {
        using var qemu = JsonDocument.Parse(Tools.QemuImg("measure", "--output=json", "-O", "qcow2", _dir["a.raw"]).Ok().Stdout);
        using var image = DiskImage.Open(_dir["a.raw"], new OpenOptions { Format = "raw" });
        var mine = MeasureOperation.Measure("qcow2", new ImageOptions(), null, image);
        Assert.That(mine.Required, Is.EqualTo(qemu.RootElement.GetProperty("required").GetInt64()));
    }

    /// <summary>iotests 190: empty bitmaps count in full, per target cluster size.</summary>
    [TestCase("cluster_size=64k")]
    [TestCase("cluster_size=2M")]
    public void Measure_Qcow2WithEmptyBitmaps_CountsThemLikeQemuImg(string options)
    {
        Tools.QemuImg("create", "-q", "-f", "qcow2", _dir["h.qcow2"], "2T").Ok();
        Tools.QemuImg("bitmap", "--add", "-g", "512", _dir["h.qcow2"], "b1").Ok();
        Tools.QemuImg("bitmap", "--add", "-g", "2M", _dir["h.qcow2"], "a-longer-bitmap-name").Ok();
        using var qemu = JsonDocument.Parse(Tools.QemuImg("measure", "--output=json", "-O", "qcow2", "-o", options, _dir["h.qcow2"]).Ok().Stdout);
        using var image = DiskImage.Open(_dir["h.qcow2"]);
        var mine = MeasureOperation.Measure("qcow2", new ImageOptions().Parse(options), null, image);
        Assert.That(mine.Bitmaps, Is.EqualTo(qemu.RootElement.GetProperty("bitmaps").GetInt64()));
        Assert.That(mine.Bitmaps, Is.GreaterThan(0));
    }

    [TestCase(4096, 4096)]
    [TestCase(70001, 69632)]
    [TestCase(5 << 20, 5 << 20)]
    [TestCase((7 << 20) + 3, 7 << 20)]
    public void Compare_OneByteChanged_ReportsItsSector(int changedAt, long reported)
    {
        var bytes = File.ReadAllBytes(_dir["a.raw"]);
        bytes[changedAt] ^= 0xff;
        File.WriteAllBytes(_dir["b.raw"], bytes);
        Tools.QemuImg("convert", "-O", "qcow2", _dir["b.raw"], _dir["b.qcow2"]).Ok();
        using var a = DiskImage.Open(_dir["a.raw"], new OpenOptions { Format = "raw" });
        using var b = DiskImage.Open(_dir["b.qcow2"]);
        var lines = new List<string>();
        int exit = CompareOperation.Run(a, b, "a.raw", "b.qcow2", strict: false, lines.Add);
        Assert.That(exit, Is.EqualTo(CompareOperation.Different));
        Assert.That(lines, Is.EqualTo(new[] { $"Content mismatch at offset {reported}!" }));
        Assert.That(Tools.QemuImg("compare", _dir["a.raw"], _dir["b.qcow2"]).Stdout.Trim(), Is.EqualTo(lines[0]));
    }

    [Test]
    public void Map_Qcow2Copy_MergesRunsAsQemu()
    {
        Tools.QemuImg("convert", "-O", "qcow2", _dir["a.raw"], _dir["a.qcow2"]).Ok();
        using var image = DiskImage.Open(_dir["a.qcow2"]);
        var writer = new StringWriter();
        MapOperation.Write(image, writer, json: true);
        Assert.That(writer.ToString(), Is.EqualTo(Tools.QemuImg("map", "--output=json", _dir["a.qcow2"]).Ok().Stdout));
    }
}
