using System.Buffers.Binary;
using ImageTool.Check;
using ImageTool.Operations;
using ImageTool.Options;
using ImageTool.Tests.Support;
using static ImageTool.Tests.Formats.LegacyFormatSupport;

namespace ImageTool.Tests.Formats.Vhdx;

public class VhdxImageTests
{
    private static ImageOptions Options(string? list) => list == null ? new ImageOptions() : new ImageOptions().Parse(list);

    [TestCase(100L << 20, null)]
    [TestCase(0L, null)]
    [TestCase(1000L, null)]
    [TestCase(1025L << 20, null)]
    [TestCase(10L << 20, "subformat=fixed")]
    [TestCase(10L << 20, "subformat=fixed,block_state_zero=off")]
    [TestCase(20L << 20, "block_state_zero=off")]
    [TestCase(3L << 30, "block_size=1M,log_size=2M")]
    [TestCase(1L << 20, "block_size=512M,log_size=1536K")]
    public void Create_IsIdenticalToQemuImgApartFromGuidsAndSequence(long size, string? options)
    {
        using var dir = new TempDir();
        DiskImage.Create(new CreateRequest(dir["img.vhdx"], "vhdx") { Size = size, Options = Options(options) });
        var args = new List<string> { "create", "-q", "-f", "vhdx" };
        if (options != null) args.AddRange(["-o", options]);
        args.AddRange([dir["qemu.vhdx"], size.ToString()]);
        Tools.QemuImg([.. args]).Ok();
        Assert.That(VhdInterop.Masked(dir["img.vhdx"]), Is.EqualTo(VhdInterop.Masked(dir["qemu.vhdx"])));
        Assert.That(InfoJson(dir["img.vhdx"]), Is.EqualTo(Tools.QemuImg("info", "--output=json", dir["img.vhdx"]).Ok().Stdout));
        Assert.That(Tools.QemuImg("check", dir["img.vhdx"]).Ok().Stdout, Is.EqualTo("No errors were found on the image.\n"));
    }

    [TestCase("block_size=3M")]
    [TestCase("log_size=0")]
    [TestCase("subformat=foo")]
    public void Create_BadOptions_FailAsQemuImg(string options)
    {
        using var dir = new TempDir();
        var e = Assert.Throws(Is.InstanceOf<ImageFormatException>(), () =>
            DiskImage.Create(new CreateRequest(dir["img.vhdx"], "vhdx") { Size = 1 << 20, Options = Options(options) }));
        Assert.That(QemuError(Tools.QemuImg("create", "-q", "-f", "vhdx", "-o", options, dir["q.vhdx"], "1M")),
            Is.EqualTo($"{dir["q.vhdx"]}: {e!.Message}"));
    }

    [Test]
    public void Read_QemuWrittenImage_MatchesQemuConvert()
    {
        using var dir = new TempDir();
        string path = dir["q.vhdx"];
        Tools.QemuImg("create", "-q", "-f", "vhdx", "-o", "block_size=1M", path, "40M").Ok();
        Tools.QemuIo("-f", "vhdx", path, "-c", "write -P 0x22 8M 4k", "-c", "write -P 0x33 100k 3M", "-c", "write -P 0x44 30M 10M").Ok();
        Tools.QemuImg("convert", "-O", "raw", path, dir["q.raw"]).Ok();
        Assert.That(DiskImage.Probe(path), Is.EqualTo("vhdx"));
        using (var image = DiskImage.Open(path))
        {
            Assert.That(ReadAll(image), Is.EqualTo(File.ReadAllBytes(dir["q.raw"])));
            Assert.That(image.GetBlockStatus(20 << 20, 1 << 20).IsData, Is.False, "ZERO blocks are skipped by convert");
            Assert.That(image.GetBlockStatus(8 << 20, 4096).IsData, Is.True);
        }
        Assert.That(InfoHuman(path), Is.EqualTo(Tools.QemuImg("info", path).Ok().Stdout));
    }

    [TestCase(null)]
    [TestCase("subformat=fixed")]
    [TestCase("block_state_zero=off")]
    [TestCase("subformat=fixed,block_state_zero=off")]
    public void Write_RandomWrites_QemuAndLibvhdiReadTheSame(string? options)
    {
        using var dir = new TempDir();
        string path = dir["w.vhdx"];
        const int size = 20 << 20;
        DiskImage.Create(new CreateRequest(path, "vhdx") { Size = size, Options = Options(options + (options == null ? "" : ",") + "block_size=1M") });
        var model = new byte[size];
        var random = new Random(11);
        using (var image = DiskImage.Open(path, new OpenOptions { ReadOnly = false }))
        {
            for (int i = 0; i < 60; i++)
            {
                int length = random.Next(1, 400_000);
                int offset = random.Next(0, size - length);
                var data = SeededData.Bytes(length, i);
                image.Write(offset, data);
                data.CopyTo(model, offset);
            }
            image.WriteZeroes(3 << 20, 2 << 20, mayDeallocate: true);
            model.AsSpan(3 << 20, 2 << 20).Clear();
            Assert.That(ReadAll(image), Is.EqualTo(model));
            Assert.That(CheckOperation.Run(image, CheckRepair.None, _ => { }).ExitCode, Is.Zero);
        }
        File.WriteAllBytes(dir["model.raw"], model);
        Assert.That(Tools.QemuImg("check", path).Ok().Stdout, Is.EqualTo("No errors were found on the image.\n"));
        Assert.That(Tools.QemuImg("compare", "-f", "vhdx", "-F", "raw", path, dir["model.raw"]).Ok().Stdout, Does.Contain("identical"));
        Assert.That(VhdInterop.ReadWithLibvhdi(dir, path), Is.EqualTo(model));
    }

    [Test]
    public void Convert_BothWays_ThroughQemuImg()
    {
        using var dir = new TempDir();
        var data = MixedData(9 << 20, 4);
        File.WriteAllBytes(dir["src.raw"], data);
        ConvertOperation.Run([dir["src.raw"]], dir["img.vhdx"], new ConvertOptions { OutputFormat = "vhdx" });
        Assert.That(Tools.QemuImg("compare", "-F", "raw", dir["img.vhdx"], dir["src.raw"]).Ok().Stdout, Does.Contain("identical"));
        Tools.QemuImg("convert", "-O", "vhdx", dir["src.raw"], dir["qemu.vhdx"]).Ok();
        ConvertOperation.Run([dir["qemu.vhdx"]], dir["img.raw"], new ConvertOptions { OutputFormat = "raw" });
        Assert.That(File.ReadAllBytes(dir["img.raw"]), Is.EqualTo(data));
    }

    /// <summary>The stale log entry qemu leaves behind made active again: the current header names its GUID.</summary>
    private static void MakeDirty(string path)
    {
        var d = File.ReadAllBytes(path);
        int h = BitConverter.ToUInt64(d, 0x10008) > BitConverter.ToUInt64(d, 0x20008) ? 0x10000 : 0x20000;
        long log = BitConverter.ToInt64(d, h + 72);
        Assert.That(d.AsSpan((int)log, 4).SequenceEqual("loge"u8), "qemu left a log entry");
        d.AsSpan((int)log + 32, 16).CopyTo(d.AsSpan(h + 48));
        d.AsSpan(h + 4, 4).Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(h + 4), Crc32C(d.AsSpan(h, 4096)));
        File.WriteAllBytes(path, d);
    }

    private static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
        }
        return ~crc;
    }

    /// <summary>Both headers name a log to replay, at <paramref name="logOffset"/> with <paramref name="logLength"/> bytes.</summary>
    private static void PointLog(string path, ulong logOffset, uint? logLength)
    {
        var d = File.ReadAllBytes(path);
        foreach (int h in new[] { 0x10000, 0x20000 })
        {
            for (int i = 0; i < 16; i++) d[h + 48 + i] = (byte)(i + 1);
            BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(h + 72), logOffset);
            if (logLength is { } length) BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(h + 68), length);
            d.AsSpan(h + 4, 4).Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(h + 4), Crc32C(d.AsSpan(h, 4096)));
        }
        File.WriteAllBytes(path, d);
    }

    /// <summary>
    /// A log that lies (partly) past the end of the file reads as zeros there, as qemu reads it: no entry, nothing to
    /// replay, the image opens. One whose region covers the others, or past qemu's largest offset, is refused as qemu does.
    /// </summary>
    [TestCase(1UL << 40, null, null)]
    [TestCase(30UL << 20, null, null)]
    [TestCase(1UL << 62, null, null)]
    [TestCase(1UL << 63, null, "Input/output error")]
    [TestCase(1UL << 20, 0xFFF00000u, "Invalid argument")]
    public void LogOutsideTheFile_OpensOrFailsLikeQemu(ulong logOffset, uint? logLength, string? error)
    {
        using var dir = new TempDir();
        string path = dir["log.vhdx"];
        Tools.QemuImg("create", "-q", "-f", "vhdx", path, "20M").Ok();
        Tools.QemuIo("-f", "vhdx", path, "-c", "write -P 0x22 1M 4k").Ok();
        PointLog(path, logOffset, logLength);
        var before = File.ReadAllBytes(path);
        var qemu = Tools.QemuImg("info", path);
        if (error == null)
        {
            qemu.Ok();
            Tools.QemuImg("convert", "-O", "raw", path, dir["q.raw"]).Ok();
            using (var image = DiskImage.Open(path))
                Assert.That(ReadAll(image), Is.EqualTo(File.ReadAllBytes(dir["q.raw"])));
        }
        else
        {
            var warnings = new List<string>();
            string ours = OpenError(path, new OpenOptions { Warning = w => warnings.Add(w.Message) });
            Assert.That(ours, Does.EndWith(error));
            Assert.That(string.Join("\n", warnings.Select(w => w.Replace("img: ", "", StringComparison.Ordinal)).Append(ours)),
                Is.EqualTo(QemuError(qemu)));
        }
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(before), "nothing written");
    }

    [Test]
    public void DirtyLog_RefusedReadOnly_ReplayedByCheckRepairLikeQemu()
    {
        using var dir = new TempDir();
        string path = dir["d.vhdx"];
        Tools.QemuImg("create", "-q", "-f", "vhdx", path, "40M").Ok();
        Tools.QemuIo("-f", "vhdx", path, "-c", "write -P 0x22 8M 4k", "-c", "write -P 0x33 100k 3M", "-c", "write -P 0x44 30M 10M").Ok();
        MakeDirty(path);
        File.Copy(path, dir["q.vhdx"]);
        // The hint names the program, as the library's other hints do ("img check -r all" where qemu says qemu-img).
        string QemuSays(string command) =>
            QemuError(Tools.QemuImg(command, path)).Replace("qemu-img check", $"{ProgramName.Current} check", StringComparison.Ordinal);
        Assert.That(OpenError(path), Is.EqualTo(QemuSays("info")));
        Assert.That(QemuSays("check"), Is.EqualTo(OpenError(path)));

        Tools.QemuImg("check", "-r", "all", dir["q.vhdx"]).Ok();
        Tools.QemuImg("convert", "-O", "raw", dir["q.vhdx"], dir["q.raw"]).Ok();
        using (var image = DiskImage.Open(path, new OpenOptions { ReadOnly = false, ForRepair = true }))
        {
            var result = CheckOperation.Run(image, CheckRepair.All, _ => { });
            Assert.That((result.ExitCode, result.Repaired?.CorruptionsFixed), Is.EqualTo((0, (int?)1)));
        }
        using (var image = DiskImage.Open(path))
            Assert.That(ReadAll(image), Is.EqualTo(File.ReadAllBytes(dir["q.raw"])), "the same replay as qemu's");
        Assert.That(Tools.QemuImg("check", path).Ok().Stdout, Is.EqualTo("No errors were found on the image.\n"));
    }

    [Test]
    public void Check_TruncatedImage_ReportsTheBatEntryLikeQemu()
    {
        using var dir = new TempDir();
        string path = dir["t.vhdx"];
        Tools.QemuImg("create", "-q", "-f", "vhdx", path, "20M").Ok();
        Tools.QemuIo("-f", "vhdx", path, "-c", "write -P 0x22 8M 4k").Ok();
        using (var f = new FileStream(path, FileMode.Open)) f.SetLength(12 << 20);
        var qemu = Tools.QemuImg("check", path);
        var lines = new List<string>();
        CheckOperation.Result result;
        using (var image = DiskImage.Open(path, new OpenOptions { ForCheck = true }))
            result = CheckOperation.Run(image, CheckRepair.None, lines.Add);
        Assert.That(result.ExitCode, Is.EqualTo(qemu.ExitCode).And.EqualTo(2));
        Assert.That(string.Join("\n", lines).Replace("img: ", "qemu-img: ", StringComparison.Ordinal), Is.EqualTo(qemu.Stderr.TrimEnd()));
        Assert.That(CheckOperation.Human(result), Is.EqualTo(qemu.Stdout));
    }

    [TestCase("signature")]
    [TestCase("headers")]
    [TestCase("regiontable")]
    [TestCase("metadata")]
    [TestCase("blocksize")]
    [TestCase("hasparent")]
    [TestCase("truncated")]
    public void BadInput_OneErrorLikeQemu(string damage)
    {
        using var dir = new TempDir();
        string path = dir["bad.vhdx"];
        Tools.QemuImg("create", "-q", "-f", "vhdx", path, "20M").Ok();
        Tools.QemuIo("-f", "vhdx", path, "-c", "write -P 0x22 8M 4k").Ok();
        var b = File.ReadAllBytes(path);
        switch (damage)
        {
            case "signature": b[1] = (byte)'X'; break; // probes raw then: opened as vhdx explicitly below
            case "headers": b[0x10000] = b[0x20000] = (byte)'X'; break;
            case "regiontable": b[0x30000] = (byte)'X'; break;
            case "metadata": b[0x300000] = (byte)'X'; break;
            case "blocksize": BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(0x310000), 3 << 20); break;
            case "hasparent": b[0x310004] = 2; break;
            case "truncated": b = b.AsSpan(0, 12 << 20).ToArray(); break;
        }
        File.WriteAllBytes(path, b);
        string qemu = QemuError(Tools.QemuImg("info", "-f", "vhdx", path));
        var warnings = new List<string>();
        string ours = OpenError(path, new OpenOptions { Format = "vhdx", Warning = w => warnings.Add(w.Message) });
        Assert.That(string.Join("\n", warnings.Select(w => w.Replace("img: ", "", StringComparison.Ordinal)).Append(ours)), Is.EqualTo(qemu));
    }
}
