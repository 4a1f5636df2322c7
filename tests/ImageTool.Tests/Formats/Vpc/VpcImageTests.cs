using System.Buffers.Binary;
using System.Text;
using ImageTool.Operations;
using ImageTool.Options;
using ImageTool.Tests.Support;
using static ImageTool.Tests.Formats.LegacyFormatSupport;

namespace ImageTool.Tests.Formats.Vpc;

public class VpcImageTests
{
    private static ImageOptions Options(string? list) => list == null ? new ImageOptions() : new ImageOptions().Parse(list);

    [TestCase(100L << 20, null)]
    [TestCase(0L, null)]
    [TestCase(1000L, null)]
    [TestCase(127L << 20, null)]
    [TestCase(2040L << 30, null)]
    [TestCase(10L << 20, "subformat=fixed")]
    [TestCase(1000L, "force_size=on")]
    [TestCase(10L << 20, "subformat=fixed,force_size=on")]
    public void Create_IsIdenticalToQemuImgApartFromTimestampChecksumAndUuid(long size, string? options)
    {
        using var dir = new TempDir();
        DiskImage.Create(new CreateRequest(dir["img.vhd"], "vpc") { Size = size, Options = Options(options) });
        var args = new List<string> { "create", "-q", "-f", "vpc" };
        if (options != null) args.AddRange(["-o", options]);
        args.AddRange([dir["qemu.vhd"], size.ToString()]);
        Tools.QemuImg([.. args]).Ok();
        Assert.That(VhdInterop.Masked(dir["img.vhd"]), Is.EqualTo(VhdInterop.Masked(dir["qemu.vhd"])));
        string[] open = options?.Contains("fixed") == true ? ["-f", "vpc"] : [];
        Assert.That(Tools.QemuImg(["info", "--output=json", .. open, dir["img.vhd"]]).Ok().Stdout,
            Is.EqualTo(ImageTool.Info.ImageInfoFormatter.Json(InfoOperation.Collect(dir["img.vhd"], new OpenOptions { Format = "vpc" }, backingChain: false), asList: false)));
    }

    [TestCase(2041L << 30, null)]
    [TestCase(3000L << 30, "subformat=fixed")]
    [TestCase(2041L << 30, "force_size=on")]
    public void Create_TooLarge_FailsAsQemuImg(long size, string? options)
    {
        using var dir = new TempDir();
        var e = Assert.Throws(Is.InstanceOf<ImageFormatException>(), () =>
            DiskImage.Create(new CreateRequest(dir["img.vhd"], "vpc") { Size = size, Options = Options(options) }));
        var args = new List<string> { "create", "-q", "-f", "vpc" };
        if (options != null) args.AddRange(["-o", options]);
        args.AddRange([dir["qemu.vhd"], size.ToString()]);
        Assert.That(QemuError(Tools.QemuImg([.. args])), Is.EqualTo($"{dir["qemu.vhd"]}: {e!.Message}"));
    }

    [Test]
    public void Read_QemuWrittenDynamic_MatchesQemuConvertAndMap()
    {
        using var dir = new TempDir();
        string path = dir["q.vhd"];
        Tools.QemuImg("create", "-q", "-f", "vpc", path, "20M").Ok();
        Tools.QemuIo("-f", "vpc", path, "-c", "write -P 0x11 3M 4k", "-c", "write -P 0x22 100k 5000", "-c", "write -P 0x33 10M 3M").Ok();
        Tools.QemuImg("convert", "-O", "raw", path, dir["q.raw"]).Ok();
        Assert.That(DiskImage.Probe(path), Is.EqualTo("vpc"));
        using (var image = DiskImage.Open(path))
            Assert.That(ReadAll(image), Is.EqualTo(File.ReadAllBytes(dir["q.raw"])));
        var map = new StringWriter();
        using (var image = DiskImage.Open(path)) MapOperation.Write(image, map, json: true);
        Assert.That(map.ToString(), Is.EqualTo(Tools.QemuImg("map", "--output=json", path).Ok().Stdout));
        Assert.That(InfoHuman(path), Is.EqualTo(Tools.QemuImg("info", path).Ok().Stdout));
    }

    [TestCase("dynamic")]
    [TestCase("fixed")]
    public void Write_RandomWrites_QemuAndLibvhdiReadTheSame(string subformat)
    {
        using var dir = new TempDir();
        string path = dir["w.vhd"];
        DiskImage.Create(new CreateRequest(path, "vpc") { Size = 9L << 20, Options = Options("subformat=" + subformat) });
        using var image0 = DiskImage.Open(path, new OpenOptions { Format = "vpc" });
        var model = new byte[image0.Length];
        image0.Dispose();
        var random = new Random(7);
        using (var image = DiskImage.Open(path, new OpenOptions { ReadOnly = false, Format = "vpc" }))
        {
            for (int i = 0; i < 60; i++)
            {
                int length = random.Next(1, 300_000);
                int offset = random.Next(0, model.Length - length);
                var data = SeededData.Bytes(length, i);
                image.Write(offset, data);
                data.CopyTo(model, offset);
            }
            image.WriteZeroes(1 << 20, 1 << 20, mayDeallocate: true);
            model.AsSpan(1 << 20, 1 << 20).Clear();
            Assert.That(ReadAll(image), Is.EqualTo(model));
        }
        File.WriteAllBytes(dir["model.raw"], model);
        Assert.That(Tools.QemuImg("compare", "-f", "vpc", "-F", "raw", path, dir["model.raw"]).Ok().Stdout, Does.Contain("identical"));
        Assert.That(VhdInterop.ReadWithLibvhdi(dir, path), Is.EqualTo(model));
    }

    [Test]
    public void Fixed_ProbesAsRawLikeQemu_AndOpensWithFormatVpc()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-q", "-f", "vpc", "-o", "subformat=fixed", dir["f.vhd"], "1M").Ok();
        Assert.That(DiskImage.Probe(dir["f.vhd"]), Is.EqualTo("raw"));
        using var image = DiskImage.Open(dir["f.vhd"], new OpenOptions { Format = "vpc" });
        Assert.That(image.Length, Is.EqualTo(1079296));
        Assert.That(ReadAll(image), Is.All.Zero);
    }

    [Test]
    public void Convert_BothWays_ThroughQemuImg()
    {
        using var dir = new TempDir();
        var data = MixedData(5 << 20, 3);
        File.WriteAllBytes(dir["src.raw"], data);
        ConvertOperation.Run([dir["src.raw"]], dir["img.vhd"], new ConvertOptions { OutputFormat = "vpc" });
        Tools.QemuImg("convert", "-O", "raw", dir["img.vhd"], dir["back.raw"]).Ok();
        Assert.That(File.ReadAllBytes(dir["back.raw"]).AsSpan(0, data.Length).ToArray(), Is.EqualTo(data));
        Tools.QemuImg("convert", "-O", "vpc", dir["src.raw"], dir["qemu.vhd"]).Ok();
        ConvertOperation.Run([dir["qemu.vhd"]], dir["img.raw"], new ConvertOptions { OutputFormat = "raw" });
        Assert.That(File.ReadAllBytes(dir["img.raw"]), Is.EqualTo(File.ReadAllBytes(dir["back.raw"])));
    }

    /// <summary>
    /// 4 KiB of data in each 2 MiB block: the zeros around it stay holes in the new blocks, as in qemu-img's output,
    /// instead of being written out (which made img's VHD as large as the disk).
    /// </summary>
    [TestCase("vpc")]
    [TestCase("vhdx")]
    public void Convert_ZeroRunsInsideNewBlocksStayHoles_AsQemuImg(string format)
    {
        using var dir = new TempDir();
        const int Blocks = 8;
        var runs = Enumerable.Range(0, Blocks).Select(b => ((long)b * (2 << 20) + 64 * 1024, 4096)).ToArray();
        SeededData.WriteRaw(dir["src.raw"], Blocks * (2L << 20), 5, runs);
        var options = format == "vhdx" ? new[] { "-o", "block_size=2097152" } : [];
        ConvertOperation.Run([dir["src.raw"]], dir["img." + format], new ConvertOptions
        {
            OutputFormat = format,
            OutputOptions = format == "vhdx" ? new ImageTool.Options.ImageOptions().Set("block_size", "2097152") : new(),
        });
        Tools.QemuImg(["convert", "-O", format, .. options, dir["src.raw"], dir["qemu." + format]]).Ok();

        Tools.QemuImg("compare", "-f", format, "-F", "raw", dir["img." + format], dir["src.raw"]).Ok();
        long imgAllocated = Allocated(dir["img." + format]), qemuAllocated = Allocated(dir["qemu." + format]);
        Assert.That(imgAllocated, Is.LessThanOrEqualTo(qemuAllocated), $"img {imgAllocated} bytes, qemu-img {qemuAllocated}");
        Assert.That(imgAllocated, Is.LessThan(2L << 20), "the data and metadata only, not whole blocks");
    }

    private static long Allocated(string path)
    {
        using var image = DiskImage.Open(path, new OpenOptions { Format = "raw" });
        return image.GetInfo().ActualSize ?? throw new InvalidOperationException("no actual size");
    }

    /// <summary>
    /// A differencing disk patched from a dynamic one (type 4, parent name, W2ru locator): qemu 7.2 reads it as a
    /// plain dynamic disk (zeros where the parent shows through); img and libvhdi read the parent.
    /// </summary>
    [Test]
    public void Differencing_ReadsParentWhereBitmapIsClear_LikeLibvhdi()
    {
        using var dir = new TempDir();
        var parentData = SeededData.Bytes(4 << 20, 5);
        File.WriteAllBytes(dir["p.raw"], parentData);
        ConvertOperation.Run([dir["p.raw"]], dir["par.vhd"], new ConvertOptions { OutputFormat = "vpc" });
        MakeChild(dir, "chi.vhd", "par.vhd");
        using (var image = DiskImage.Open(dir["chi.vhd"]))
        {
            Assert.That(image.BackingFileName, Is.EqualTo("par.vhd"));
            Assert.That(ReadAll(image).AsSpan(0, parentData.Length).ToArray(), Is.EqualTo(parentData));
            Assert.That(image.GetBlockStatus(0, 1 << 20).State, Is.EqualTo(BlockState.Unallocated));
        }
        var model = ReadAllOf(dir["chi.vhd"]);
        // libvhdi (20210425) reads a differencing block's bitmap 4 KiB at a time: it is compared after whole-4 KiB writes.
        WriteAndCheck(dir, model, (4096L, 8192, 1), (3L << 20, 65536, 2), ((2L << 20) - 4096, 8192, 3));
        Assert.That(VhdInterop.ReadWithLibvhdi(dir, dir["chi.vhd"], dir["par.vhd"]).AsSpan(0, model.Length).ToArray(), Is.EqualTo(model));
        // Partial sectors keep the parent's bytes around them.
        WriteAndCheck(dir, model, (1000L, 300, 4), ((3L << 20) + 70_000, 5000, 5), ((2L << 20) - 10, 20, 6));
        Assert.That(File.ReadAllBytes(dir["p.raw"]), Is.EqualTo(parentData), "the parent is never written");
    }

    /// <summary>
    /// Parent locators that lead back to the disk itself (or round a cycle) end in one clear error, never a hang or a
    /// stack overflow (qemu 7.2 ignores VHD parents and reads such disks without them); nothing is written.
    /// </summary>
    [TestCase("self.vhd", "self.vhd")]
    [TestCase("a.vhd", "b.vhd")]
    public void Differencing_ParentsThatLoop_FailWithOneError(string child, string parent)
    {
        using var dir = new TempDir();
        foreach (var name in new[] { child, parent }.Distinct()) Tools.QemuImg("create", "-q", "-f", "vpc", dir[name], "10M").Ok();
        MakeChild(dir, child, parent);
        if (parent != child) MakeChild(dir, parent, child);
        var before = File.ReadAllBytes(dir[child]);

        var e = Assert.Throws<ImageFormatException>(() =>
            ConvertOperation.Run([dir[child]], dir["out.raw"], new ConvertOptions { OutputFormat = "raw" }));

        Assert.That(e!.Message, Does.Contain("creates an infinite loop"));
        Assert.That(File.ReadAllBytes(dir[child]), Is.EqualTo(before));
    }

    private static void WriteAndCheck(TempDir dir, byte[] model, params (long Offset, int Length, int Seed)[] writes)
    {
        using (var image = DiskImage.Open(dir["chi.vhd"], new OpenOptions { ReadOnly = false }))
        {
            foreach (var (offset, length, seed) in writes)
            {
                var data = SeededData.Bytes(length, seed);
                image.Write(offset, data);
                data.CopyTo(model, offset);
            }
            Assert.That(ReadAll(image), Is.EqualTo(model));
        }
        Assert.That(ReadAllOf(dir["chi.vhd"]), Is.EqualTo(model));
    }

    private static byte[] ReadAllOf(string path)
    {
        using var image = DiskImage.Open(path);
        return ReadAll(image);
    }

    /// <summary>An empty dynamic disk of the parent's size turned into its child (VHD spec: type 4, parent UUID, name, locator).</summary>
    private static void MakeChild(TempDir dir, string child, string parent)
    {
        var p = File.ReadAllBytes(dir[parent]);
        Tools.QemuImg("create", "-q", "-f", "vpc", dir[child], BinaryPrimitives.ReadUInt64BigEndian(p.AsSpan(48)).ToString()).Ok();
        var c = File.ReadAllBytes(dir[child]).ToList();
        int footerAt = c.Count - 512;
        var footer = c.GetRange(footerAt, 512).ToArray();
        var locator = Encoding.Unicode.GetBytes(".\\" + parent);
        var locatorSector = new byte[512];
        locator.CopyTo(locatorSector, 0);
        BinaryPrimitives.WriteUInt32BigEndian(footer.AsSpan(60), 4);
        Reseal(footer, 64);
        var bytes = c.Take(footerAt).Concat(locatorSector).Concat(footer).ToArray();
        footer.CopyTo(bytes, 0);
        var dyn = bytes.AsSpan(512, 1024);
        p.AsSpan(68, 16).CopyTo(dyn[40..]);
        Encoding.BigEndianUnicode.GetBytes(parent).CopyTo(dyn[64..]);
        var entry = dyn[576..];
        BinaryPrimitives.WriteUInt32BigEndian(entry, 0x57327275); // W2ru
        BinaryPrimitives.WriteUInt32BigEndian(entry[4..], 512);
        BinaryPrimitives.WriteUInt32BigEndian(entry[8..], (uint)locator.Length);
        BinaryPrimitives.WriteUInt64BigEndian(entry[16..], (ulong)footerAt);
        Reseal(dyn, 36);
        File.WriteAllBytes(dir[child], bytes);
    }

    private static void Reseal(Span<byte> b, int at)
    {
        b.Slice(at, 4).Clear();
        uint sum = 0;
        foreach (byte x in b) sum += x;
        BinaryPrimitives.WriteUInt32BigEndian(b[at..], ~sum);
    }

    [TestCase("checksum")]
    [TestCase("truncated")]
    [TestCase("blocksize")]
    [TestCase("dynmagic")]
    public void BadInput_OneErrorLikeQemu(string damage)
    {
        using var dir = new TempDir();
        string path = dir["bad.vhd"];
        Tools.QemuImg("create", "-q", "-f", "vpc", path, "10M").Ok();
        Tools.QemuIo("-f", "vpc", path, "-c", "write -P 0x11 3M 4k").Ok();
        var b = File.ReadAllBytes(path);
        switch (damage)
        {
            case "checksum": b[40] ^= 1; break;
            case "truncated": b = b.AsSpan(0, b.Length - (1 << 20)).ToArray(); break;
            case "blocksize":
                BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(512 + 32), 3000);
                Reseal(b.AsSpan(512, 1024), 36);
                break;
            case "dynmagic": b[512] = (byte)'X'; break;
        }
        File.WriteAllBytes(path, b);
        string qemu = QemuError(Tools.QemuImg("info", path));
        Assert.That(OpenError(path), Is.EqualTo(qemu));
    }
}
