using ImageTool.Operations;
using ImageTool.Options;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Vmdk;

/// <summary>Both directions against qemu-img 7.2 for every subformat: what img writes qemu reads, and the reverse.</summary>
[Category("Qemu")]
public class VmdkInteropTests
{
    private const long Split = 2L << 30;

    private static (long Offset, int Length)[] Runs(string subformat, long size)
    {
        if (subformat == "streamOptimized")
            return [(0, 3 * 65536), (20 << 20, 65536), ((32 << 20) - 65536, 2 * 65536), (size - 65536, 65536)];
        var runs = new List<(long, int)>
        {
            (1000, 70000),                 // partial grains at both ends
            (5 << 20, 1 << 20),            // whole grains
            ((5 << 20) + 4096, 512),       // rewrite inside an allocated grain
            ((32 << 20) - 3000, 9000),     // across a grain-table boundary
            (size - 5000, 5000),           // the last grain
        };
        if (size > Split) runs.Add((Split - 1000, 4000)); // across two extent files
        return [.. runs];
    }

    private static long SizeOf(string subformat) => subformat.StartsWith("twoGb", StringComparison.Ordinal) ? Split + (40 << 20) : 40 << 20;

    [TestCaseSource(typeof(VmdkTestImages), nameof(VmdkTestImages.Subformats))]
    public void ImgWrites_QemuReadsSameData(string subformat)
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        long size = SizeOf(subformat);
        var runs = Runs(subformat, size);
        SeededData.WriteRaw(dir["ref.raw"], size, 5, runs);
        DiskImage.Create(new CreateRequest(dir["w.vmdk"], "vmdk")
        {
            Size = size,
            Options = new ImageOptions().Set("subformat", subformat),
        });
        using (var image = DiskImage.Open(dir["w.vmdk"], new OpenOptions { ReadOnly = false }))
        {
            for (int i = 0; i < runs.Length; i++)
                image.Write(runs[i].Offset, SeededData.Bytes(runs[i].Length, 5 + i));
        }
        VmdkTestImages.QemuCheckClean(dir["w.vmdk"]);
        Tools.QemuImg("compare", "-f", "raw", "-F", "vmdk", dir["ref.raw"], dir["w.vmdk"]).Ok();
    }

    [TestCaseSource(typeof(VmdkTestImages), nameof(VmdkTestImages.Subformats))]
    public void QemuWrites_ImgReadsSameData(string subformat)
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        long size = SizeOf(subformat);
        var runs = Runs(subformat, size);
        SeededData.WriteRaw(dir["ref.raw"], size, 9, runs);
        Tools.QemuImg("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=" + subformat, dir["ref.raw"], dir["q.vmdk"]).Ok();
        if (subformat != "streamOptimized")
            Tools.QemuIo("-f", "vmdk", "-c", "write -P 0xa5 1234567 100000", "-c", "write -z 8M 1M", dir["q.vmdk"]).Ok();
        Tools.QemuImg("convert", "-f", "vmdk", "-O", "raw", dir["q.vmdk"], dir["qemu.raw"]).Ok();

        ConvertOperation.Run([dir["q.vmdk"]], dir["img.raw"], new ConvertOptions());
        Tools.QemuImg("compare", "-f", "raw", "-F", "raw", dir["qemu.raw"], dir["img.raw"]).Ok();
    }

    [TestCase("monolithicSparse", false)]
    [TestCase("streamOptimized", false)]
    [TestCase("streamOptimized", true)]
    public void Convert_RawToVmdk_QemuAgreesAndKeepsSparseness(string subformat, bool compress)
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["src.raw"], 48 << 20, 3, (0, 100_000), (17 << 20, 3 << 20), ((48 << 20) - 777, 777));
        ConvertOperation.Run([dir["src.raw"]], dir["o.vmdk"], new ConvertOptions
        {
            OutputFormat = "vmdk",
            OutputOptions = new ImageOptions().Set("subformat", subformat),
            Compress = compress,
        });
        VmdkTestImages.QemuCheckClean(dir["o.vmdk"]);
        Tools.QemuImg("compare", dir["src.raw"], dir["o.vmdk"]).Ok();
        // Only the data grains are stored: 2 + 48 + 1 grains of 64 KiB plus metadata.
        Assert.That(new FileInfo(dir["o.vmdk"]).Length, Is.LessThan(8 << 20));
    }

    [Test]
    public void Stream_CompressedGrainsAreZlibWithHeader()
    {
        using var dir = new TempDir();
        DiskImage.Create(new CreateRequest(dir["s.vmdk"], "vmdk")
        {
            Size = 1 << 20,
            Options = new ImageOptions().Set("subformat", "streamOptimized"),
        });
        using (var image = DiskImage.Open(dir["s.vmdk"], new OpenOptions { ReadOnly = false }))
            image.Write(0, SeededData.Bytes(65536, 1));
        var bytes = File.ReadAllBytes(dir["s.vmdk"]);
        // The first marker sits at the first grain (sector 128): lba 0, size, then a zlib header (78, check bits).
        Assert.That(bytes[128 * 512 + 12], Is.EqualTo(0x78));
        Assert.That((0x7800 | bytes[128 * 512 + 13]) % 31, Is.Zero);
    }

    [Test]
    public void Stream_RewriteOfAGrain_IsRefusedAsQemuDoes()
    {
        using var dir = new TempDir();
        DiskImage.Create(new CreateRequest(dir["s.vmdk"], "vmdk")
        {
            Size = 1 << 20,
            Options = new ImageOptions().Set("subformat", "streamOptimized"),
        });
        using var image = DiskImage.Open(dir["s.vmdk"], new OpenOptions { ReadOnly = false });
        image.Write(0, new byte[65536]);
        var again = Assert.Throws<IOException>(() => image.Write(0, new byte[65536]));
        Assert.That(again!.Message, Is.EqualTo("Could not write to allocated cluster for streamOptimized"));
        Assert.Throws<IOException>(() => image.Write(65536 + 512, new byte[512]));
    }

    [Test]
    public void Stream_VmwareLayoutWithFooter_ReadsLikeQemu()
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        var model = VmdkTestImages.Model(3 << 20, 4);
        File.WriteAllBytes(dir["m.raw"], model);
        VmwareStreamBuilder.Write(dir["vm.vmdk"], model);
        using (var image = DiskImage.Open(dir["vm.vmdk"]))
            VmdkTestImages.AssertReadsAs(image, model);
        Tools.QemuImg("compare", "-F", "vmdk", dir["m.raw"], dir["vm.vmdk"]).Ok();
    }

    [Test]
    public void Chain_VmdkOverVmdk_ReadsThroughAndWritesOnlyTheChild()
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["base.raw"], 8 << 20, 21, (0, 8 << 20));
        ConvertOperation.Run([dir["base.raw"]], dir["base.vmdk"], new ConvertOptions { OutputFormat = "vmdk" });
        var baseBytes = File.ReadAllBytes(dir["base.vmdk"]);
        DiskImage.Create(new CreateRequest(dir["child.vmdk"], "vmdk")
        {
            Options = new ImageOptions().Set("backing_file", "base.vmdk").Set("backing_fmt", "vmdk"),
        });
        var patch = SeededData.Bytes(3000, 22);
        using (var child = DiskImage.Open(dir["child.vmdk"], new OpenOptions { ReadOnly = false }))
            child.Write(70_000, patch);
        Assert.That(File.ReadAllBytes(dir["base.vmdk"]), Is.EqualTo(baseBytes), "the parent was written");

        var expected = File.ReadAllBytes(dir["base.raw"]);
        patch.CopyTo(expected, 70_000);
        using (var child = DiskImage.Open(dir["child.vmdk"]))
            VmdkTestImages.AssertReadsAs(child, expected);
        File.WriteAllBytes(dir["expected.raw"], expected);
        VmdkTestImages.QemuCheckClean(dir["child.vmdk"]);
        Tools.QemuImg("compare", "-F", "vmdk", dir["expected.raw"], dir["child.vmdk"]).Ok();

        // qcow2 over the vmdk chain, as qemu builds it, reads the same.
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-b", "child.vmdk", "-F", "vmdk", dir["top.qcow2"]).Ok();
        Tools.QemuImg("compare", "-F", "qcow2", dir["expected.raw"], dir["top.qcow2"]).Ok();
        using (var top = DiskImage.Open(dir["top.qcow2"]))
            VmdkTestImages.AssertReadsAs(top, expected);
    }

    [TestCase("monolithicSparse")]
    [TestCase("streamOptimized")]
    public void Read_FromManyThreads_MatchesQemu(string subformat)
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        var model = VmdkTestImages.Model(24 << 20, 31);
        File.WriteAllBytes(dir["m.raw"], model);
        Tools.QemuImg("convert", "-O", "vmdk", "-o", "subformat=" + subformat, dir["m.raw"], dir["p.vmdk"]).Ok();
        using var image = DiskImage.Open(dir["p.vmdk"]);
        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var random = new Random(i);
            var buffer = new byte[random.Next(1, 300_000)];
            long at = random.NextInt64(0, model.Length - buffer.Length);
            image.Read(at, buffer);
            Assert.That(buffer.AsSpan().SequenceEqual(model.AsSpan((int)at, buffer.Length)), Is.True, $"read {i} at {at}");
        });
    }

    [Test]
    public void Chain_ParentWrittenAfterwards_ChildReadsFailLikeQemu()
    {
        using var dir = new TempDir();
        DiskImage.Create(new CreateRequest(dir["base.vmdk"], "vmdk") { Size = 1 << 20 });
        DiskImage.Create(new CreateRequest(dir["child.vmdk"], "vmdk")
        {
            Options = new ImageOptions().Set("backing_file", "base.vmdk").Set("backing_fmt", "vmdk"),
        });
        // Any write re-randomises the parent's CID (trap 5), which breaks the child (trap 6).
        using (var parent = DiskImage.Open(dir["base.vmdk"], new OpenOptions { ReadOnly = false }))
            parent.Write(0, new byte[512]);
        using var child = DiskImage.Open(dir["child.vmdk"]);
        var e = Assert.Throws<IOException>(() => child.Read(0, new byte[512]));
        Assert.That(e!.Message, Is.EqualTo("Invalid argument"));
    }

    [Test]
    public void ZeroedGrain_WriteZeroes_SetsZeroGrainsQemuReads()
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        DiskImage.Create(new CreateRequest(dir["z.vmdk"], "vmdk")
        {
            Size = 4 << 20,
            Options = new ImageOptions().Set("zeroed_grain", "on"),
        });
        var data = SeededData.Bytes(1 << 20, 8);
        using (var image = DiskImage.Open(dir["z.vmdk"], new OpenOptions { ReadOnly = false }))
        {
            image.Write(0, data);
            image.WriteZeroes(65536, 3 * 65536 + 100, mayDeallocate: true);
            Assert.That(image.GetBlockStatus(65536, 65536).State, Is.EqualTo(BlockState.Zero));
        }
        Array.Clear(data, 65536, 3 * 65536 + 100);
        var expected = new byte[4 << 20];
        data.CopyTo(expected, 0);
        File.WriteAllBytes(dir["e.raw"], expected);
        VmdkTestImages.QemuCheckClean(dir["z.vmdk"]);
        Tools.QemuImg("compare", "-F", "vmdk", dir["e.raw"], dir["z.vmdk"]).Ok();
    }
}
