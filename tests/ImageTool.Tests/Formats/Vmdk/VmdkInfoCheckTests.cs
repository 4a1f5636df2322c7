using System.Buffers.Binary;
using ImageTool.Check;
using ImageTool.Info;
using ImageTool.Operations;
using ImageTool.Options;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Vmdk;

[Category("Qemu")]
public class VmdkInfoCheckTests
{
    [TestCaseSource(typeof(VmdkTestImages), nameof(VmdkTestImages.Subformats))]
    public void Info_HumanAndJson_ByteIdenticalToQemu(string subformat)
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["s.raw"], 3 << 20, 1, (5000, 70000));
        Tools.QemuImg("convert", "-O", "vmdk", "-o", "subformat=" + subformat, dir["s.raw"], dir["i.vmdk"]).Ok();
        Tools.QemuImg("create", "-q", "-f", "vmdk", "-b", "i.vmdk", "-F", "vmdk", dir["c.vmdk"]).Ok();
        foreach (var name in subformat.Contains("Flat", StringComparison.Ordinal) ? new[] { "i.vmdk" } : ["i.vmdk", "c.vmdk"])
        {
            var chain = InfoOperation.Collect(dir[name], new OpenOptions(), backingChain: false);
            Assert.That(ImageInfoFormatter.Human(chain), Is.EqualTo(Tools.QemuImg("info", dir[name]).Ok().Stdout));
            Assert.That(ImageInfoFormatter.Json(chain, asList: false),
                Is.EqualTo(Tools.QemuImg("info", "--output=json", dir[name]).Ok().Stdout));
        }
    }

    [Test]
    public void Info_MixedExtents_HasNoClusterSizeAsQemu()
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        Tools.QemuImg("create", "-q", "-f", "vmdk", dir["sp.vmdk"], "1M").Ok();
        File.WriteAllBytes(dir["fl.bin"], new byte[1 << 20]);
        File.WriteAllText(dir["mix.vmdk"],
            "# Disk DescriptorFile\nversion=1\nCID=1234abcd\nparentCID=ffffffff\ncreateType=\"twoGbMaxExtentSparse\"\n\n" +
            "# Extent description\nRW 2048 SPARSE \"sp.vmdk\"\nRW 2048 FLAT \"fl.bin\" 0\nRDONLY 100 FLAT \"fl.bin\" 0\nRW 100 ZERO\n\n#DDB\n");
        var chain = InfoOperation.Collect(dir["mix.vmdk"], new OpenOptions(), backingChain: false);
        Assert.That(ImageInfoFormatter.Human(chain), Is.EqualTo(Tools.QemuImg("info", dir["mix.vmdk"]).Ok().Stdout));
        Assert.That(ImageInfoFormatter.Json(chain, asList: false),
            Is.EqualTo(Tools.QemuImg("info", "--output=json", dir["mix.vmdk"]).Ok().Stdout));
    }

    [Test]
    public void Check_CleanImage_ReportsNoErrors()
    {
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["s.raw"], 4 << 20, 1, (0, 200_000));
        ConvertOperation.Run([dir["s.raw"]], dir["c.vmdk"], new ConvertOptions { OutputFormat = "vmdk" });
        using var image = DiskImage.Open(dir["c.vmdk"]);
        var lines = new List<string>();
        var result = CheckOperation.Run(image, CheckRepair.None, lines.Add);
        Assert.That(result.ExitCode, Is.Zero);
        Assert.That(CheckOperation.Human(result), Is.EqualTo("No errors were found on the image.\n"));
        Assert.That(lines, Is.Empty);
    }

    [Test]
    public void Check_GrainPastEof_FailsWithQemuLine()
    {
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["s.raw"], 4 << 20, 1, (0, 200_000));
        ConvertOperation.Run([dir["s.raw"]], dir["c.vmdk"], new ConvertOptions { OutputFormat = "vmdk" });
        PatchGte(dir["c.vmdk"], entry: 2, value: 10_000_000, redundantToo: true);
        using var image = DiskImage.Open(dir["c.vmdk"]);
        var lines = new List<string>();
        var e = Assert.Catch<ImageFormatException>(() => CheckOperation.Run(image, CheckRepair.None, lines.Add));
        Assert.That(e!.Message, Is.EqualTo("Invalid argument"));
        Assert.That(lines, Is.EqualTo(new[] { "ERROR: cluster offset for sector 256 points after EOF" }));
    }

    [Test]
    public void Check_RedundantTableDiffers_IsACorruption()
    {
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["s.raw"], 4 << 20, 1, (0, 200_000));
        ConvertOperation.Run([dir["s.raw"]], dir["c.vmdk"], new ConvertOptions { OutputFormat = "vmdk" });
        PatchGte(dir["c.vmdk"], entry: 1, value: 0, redundantToo: false);
        using var image = DiskImage.Open(dir["c.vmdk"]);
        var lines = new List<string>();
        var result = CheckOperation.Run(image, CheckRepair.None, lines.Add);
        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(lines.Single(), Does.Contain("differs from its redundant copy at entry 1"));
    }

    [Test]
    public void Check_Repair_IsNotSupported()
    {
        using var dir = new TempDir();
        DiskImage.Create(new CreateRequest(dir["c.vmdk"], "vmdk") { Size = 1 << 20 });
        using var image = DiskImage.Open(dir["c.vmdk"], new OpenOptions { ReadOnly = false });
        var e = Assert.Throws<UnsupportedFeatureException>(() => CheckOperation.Run(image, CheckRepair.All, _ => { }));
        Assert.That(e!.Message, Is.EqualTo("This image format does not support checks"));
    }

    /// <summary>Sets entry <paramref name="entry"/> of the first grain table (and of its redundant copy).</summary>
    internal static void PatchGte(string path, int entry, uint value, bool redundantToo)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        var header = new byte[512];
        fs.ReadExactly(header);
        var slots = new List<long> { (long)BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(56)) };
        if (redundantToo) slots.Add((long)BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(48)));
        foreach (var directory in slots)
        {
            var gte = new byte[4];
            fs.Position = directory * 512;
            fs.ReadExactly(gte);
            fs.Position = BinaryPrimitives.ReadUInt32LittleEndian(gte) * 512L + entry * 4;
            BinaryPrimitives.WriteUInt32LittleEndian(gte, value);
            fs.Write(gte);
        }
    }

    [Test]
    public void Options_Create_ListedInQemuOrder()
    {
        var names = DiskImage.FindFormat("vmdk")!.CreateOptions.Where(o => !o.Protocol).Select(o => o.Name);
        Assert.That(names, Is.EqualTo(new[]
        {
            "size", "adapter_type", "backing_file", "backing_fmt", "compat6", "hwversion", "toolsversion", "subformat", "zeroed_grain",
        }));
        Assert.That(new ImageOptions().Set("size", "1048576").FormatForDisplay(DiskImage.FindFormat("vmdk")!.CreateOptions),
            Is.EqualTo("size=1048576 compat6=off hwversion=undefined"));
    }
}
