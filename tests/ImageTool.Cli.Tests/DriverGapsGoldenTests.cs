using System.Diagnostics;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// Gaps qemu-iotests found (111, 150, 153, 221, 253) and the "also fix" items of the formats issue: the null-co
/// driver, backing images opened at create, map of a raw file's partial last sector, resize refused by formats
/// without it, and extents that claim far more than their file holds. img and qemu-img on the same files.
/// </summary>
[Category("Qemu")]
public class DriverGapsGoldenTests : QemuGoldenTestBase
{
    private void Same(params string[] args) => Img.AssertSameAsQemu(Dir.Path, args);

    [TestCase("info --image-opts driver=null-co")]
    [TestCase("info -U --image-opts driver=null-co,force-share=on")]
    [TestCase("info -U --image-opts driver=null-co,force-share=off")]
    [TestCase("map --output=json json:{'driver':'null-co','size':1048576,'read-zeroes':true}")]
    [TestCase("compare json:{'driver':'null-co','size':1048576,'read-zeroes':true} json:{'driver':'null-aio','size':1048576,'read-zeroes':true}")]
    public void NullDriver_MatchesQemuImg(string commandLine) => Same(commandLine.Split(' '));

    [TestCase("-S 512")]
    [TestCase("-S 0")]
    public void Convert_FromNullCo_AllocatesAsQemuImg(string sparse)
    {
        string source = "json:{ 'driver': 'null-co', 'size': 4194304, 'read-zeroes': true }";
        string[] Args(string target) => ["convert", "-O", "qcow2", .. sparse.Split(' '), source, target];
        Tools.RunIn(Dir.Path, "qemu-img", Args("q.qcow2")).Ok();
        Assert.That(Img.Run(Dir.Path, Args("i.qcow2")).ExitCode, Is.EqualTo(0));
        Assert.That(Img.Run(Dir.Path, "map", "--output=json", "i.qcow2").Stdout,
            Is.EqualTo(Tools.RunIn(Dir.Path, "qemu-img", "map", "--output=json", "q.qcow2").Stdout));
    }

    [Test]
    public void Create_WithMissingBackingAndSize_IsRefusedAsQemuImg()
    {
        Same("create", "-f", "qcow2", "-b", "nonexist.qcow2", "-F", "qcow2", "o.qcow2", "1M");
        Same("create", "-f", "qcow2", "-b", "nonexist.qcow2", "o.qcow2", "1M");
        Assert.That(File.Exists(Dir["o.qcow2"]), Is.False);
    }

    [TestCase(12122)]
    [TestCase(511)]
    [TestCase(4097)]
    public void Map_OfRawFileWithPartialLastSector_MapsTheTail(int size)
    {
        var data = new byte[size];
        new Random(size).NextBytes(data);
        File.WriteAllBytes(Dir["t.raw"], data);
        Same("map", "--output=json", "-f", "raw", "t.raw");
        Same("map", "-f", "raw", "t.raw");
    }

    [TestCase(1048575, 983040)]
    [TestCase(65537, 65536)]
    [TestCase(12122, 0)]
    public void Map_OfPartialLastSectorUnderCacheDirect_CoversItWithTheData(int size, int dataFrom)
    {
        using (var f = new FileStream(Dir["t.raw"], FileMode.Create))
        {
            f.SetLength(size);
            f.Position = dataFrom;
            f.Write(Enumerable.Repeat((byte)7, size - dataFrom).ToArray());
        }
        Same("map", "--output=json", "--image-opts", "driver=raw,file.driver=file,file.filename=t.raw,cache.direct=on");
        Same("map", "--output=json", "--image-opts", "driver=raw,file.driver=file,file.filename=t.raw");
    }

    // vpc, vhdx and vdi resize in img (qemu 7.2 refuses them; README lists it, ResizeVdiVpcVhdxTests cover it).
    [TestCase("parallels")]
    [TestCase("vmdk")]
    [TestCase("qcow")]
    public void Resize_OfFormatWithoutResize_IsRefusedAsQemuImg(string format)
    {
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", format, "r." + format, "1M").Ok();
        long before = new FileInfo(Dir["r." + format]).Length;
        Same("resize", "r." + format, "2M");
        Same("resize", "-f", format, "r." + format, "+1M");
        Assert.That(new FileInfo(Dir["r." + format]).Length, Is.EqualTo(before));
    }

    private long QemuVirtualSize(string name)
    {
        string json = Tools.RunIn(Dir.Path, "qemu-img", "info", "--output=json", name).Ok().Stdout;
        return System.Text.Json.JsonDocument.Parse(json).RootElement.GetProperty("virtual-size").GetInt64();
    }

    private void WriteDescriptor(string name, string createType, IEnumerable<string> extents) =>
        File.WriteAllText(Dir[name], "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n" +
            $"createType=\"{createType}\"\n\n" + string.Concat(extents.Select(e => e + "\n")) +
            "\nddb.virtualHWVersion = \"4\"\nddb.adapterType = \"ide\"\n");

    [Test]
    public void Convert_FlatExtentClaimingTiBsOverSmallFile_IsQuickAndSparse()
    {
        // 4294967296 sectors (2 TiB) over a 64 MiB file with a little data: the rest past the file's end reads as
        // zeros, and qemu-img converts it in a fraction of a second.
        using (var f = new FileStream(Dir["flat.bin"], FileMode.Create))
        {
            f.SetLength(64 << 20);
            f.Position = 5 << 20;
            f.Write(new byte[] { 1, 2, 3 });
        }
        WriteDescriptor("big.vmdk", "monolithicFlat", ["RW 4294967296 FLAT \"flat.bin\" 0"]);
        var clock = Stopwatch.StartNew();
        Assert.That(Img.Run(Dir.Path, "convert", "-O", "raw", "big.vmdk", "i.raw").ExitCode, Is.EqualTo(0));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(30)), "reads zeros past the end of the file");
        Assert.That(new FileInfo(Dir["i.raw"]).Length, Is.EqualTo(QemuVirtualSize("big.vmdk")));
        Tools.QemuImg("compare", "-f", "raw", "-F", "vmdk", Dir["i.raw"], Dir["big.vmdk"]).Ok();
    }

    [Test]
    public void Convert_OneSparseExtentRepeated5000Times_TakesSeconds()
    {
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "vmdk", "s.vmdk", "64M").Ok();
        Tools.RunIn(Dir.Path, "qemu-io", "-f", "vmdk", "-c", "write -P 7 1M 4k", "s.vmdk").Ok();
        WriteDescriptor("rep.vmdk", "twoGbMaxExtentSparse", Enumerable.Repeat("RW 131072 SPARSE \"s.vmdk\"", 5000));
        var clock = Stopwatch.StartNew();
        var result = Img.Run(Dir.Path, "convert", "-O", "raw", "rep.vmdk", "i.raw");
        Assert.That(result.ExitCode, Is.EqualTo(0), result.Stderr);
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(60)), "unallocated grains should cost nothing");
        // qemu-img itself needs minutes to open 5000 extents, so img's own info gives the size here.
        string info = Img.Run(Dir.Path, "info", "--output=json", "rep.vmdk").Stdout;
        long size = System.Text.Json.JsonDocument.Parse(info).RootElement.GetProperty("virtual-size").GetInt64();
        Assert.That(new FileInfo(Dir["i.raw"]).Length, Is.EqualTo(size));
        Assert.That(size, Is.GreaterThanOrEqualTo(5000L * (64 << 20)));
    }
}
