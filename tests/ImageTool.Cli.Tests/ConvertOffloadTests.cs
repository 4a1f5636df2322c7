using System.Text.RegularExpressions;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// Copy offload in convert, on file systems the test loop-mounts: on xfs (reflink) and btrfs the target shares
/// the source's blocks (FIEMAP's shared flag, as <c>filefrag -v</c> shows it) and reads the same as the source,
/// with the same holes as qemu-img's output; across file systems and on a full one it falls back or fails cleanly.
/// </summary>
[Category("Qemu")]
[NonParallelizable]
public class ConvertOffloadTests
{
    private const long FsSize = 320L << 20;
    private TempDir _dir = null!;
    private readonly List<LoopFileSystem> _mounts = [];

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        Tools.Require("qemu-img");
        Tools.Require("filefrag");
    }

    [TearDown]
    public void TearDown()
    {
        foreach (var fs in _mounts) fs.Dispose();
        _mounts.Clear();
        _dir.Dispose();
    }

    private LoopFileSystem Mount(string type, long size = FsSize)
    {
        var fs = LoopFileSystem.Mount(_dir.Path, type, size);
        _mounts.Add(fs);
        return fs;
    }

    /// <summary>A 32 MiB raw disk: random data, an allocated run of zeros inside data (left a hole by zero detection), holes.</summary>
    private static void WriteSource(string path, int dataMiB = 12)
    {
        var random = new Random(22);
        using var f = File.Create(path);
        f.SetLength(Math.Max(32, dataMiB + 4) << 20);
        var data = new byte[dataMiB << 20];
        random.NextBytes(data);
        data.AsSpan(5 << 20, 1 << 20).Clear();
        f.Position = 1 << 20;
        f.Write(data);
    }

    private static int SharedExtents(string path)
    {
        var frag = Tools.Run("filefrag", "-v", path).Ok();
        return frag.Stdout.Split('\n').Count(l => l.Contains("shared", StringComparison.Ordinal));
    }

    // Where the clusters sit in the file may differ; which guest ranges are data, zero or holes may not.
    private static string GuestMap(string path) =>
        Regex.Replace(Tools.QemuImg("map", "--output=json", path).Ok().Stdout, @", ""offset"": \d+", "");

    private static string Map(string path) => Tools.QemuImg("map", "--output=json", "-f", "raw", path).Ok().Stdout;

    [TestCase("xfs", "raw")]
    [TestCase("xfs", "qcow2")]
    [TestCase("xfs", "vmdk")]
    [TestCase("xfs", "vhdx")]
    [TestCase("btrfs", "raw")]
    [TestCase("btrfs", "qcow2")]
    public void Convert_ToRawOnReflinkFs_SharesBlocksSameResultAsQemu(string fsType, string sourceFormat)
    {
        var fs = Mount(fsType);
        WriteSource(fs["src.raw"]);
        string source = "src." + sourceFormat;
        if (sourceFormat != "raw") Tools.QemuImg("convert", "-O", sourceFormat, fs["src.raw"], fs[source]).Ok();
        Img.Run(fs.Path, "convert", "-O", "raw", source, "img.raw").Ok();
        Tools.QemuImg("convert", "-O", "raw", fs[source], fs["qemu.raw"]).Ok();
        Assert.Multiple(() =>
        {
            Assert.That(SharedExtents(fs["img.raw"]), Is.GreaterThan(0), "img's target shares no blocks with the source");
            Assert.That(Tools.QemuImg("compare", "-f", "raw", "-F", "raw", fs["img.raw"], fs["src.raw"]).ExitCode, Is.Zero);
            // Zero detection still decides the holes: the allocation is qemu-img's.
            Assert.That(Map(fs["img.raw"]), Is.EqualTo(Map(fs["qemu.raw"])));
        });
    }

    [TestCase("xfs")]
    [TestCase("btrfs")]
    public void ConvertC_DataRunsMovedUnread_SharedAndIdentical(string fsType)
    {
        var fs = Mount(fsType);
        WriteSource(fs["src.raw"]);
        Tools.QemuImg("convert", "-O", "qcow2", fs["src.raw"], fs["src.qcow2"]).Ok();
        Img.Run(fs.Path, "convert", "-C", "-O", "raw", "src.qcow2", "img.raw").Ok();
        Assert.That(SharedExtents(fs["img.raw"]), Is.GreaterThan(0));
        Tools.QemuImg("compare", "-F", "raw", fs["src.qcow2"], fs["img.raw"]).Ok();
    }

    [TestCase("xfs", "")]
    [TestCase("xfs", "-C")]
    [TestCase("btrfs", "")]
    public void Convert_RawToQcow2OnReflinkFs_ClustersShared_CheckClean(string fsType, string flag)
    {
        var fs = Mount(fsType);
        WriteSource(fs["src.raw"]);
        string[] flags = flag.Length > 0 ? [flag] : [];
        Img.Run(fs.Path, ["convert", .. flags, "-O", "qcow2", "src.raw", "img.qcow2"]).Ok();
        Tools.QemuImg(["convert", .. flags, "-O", "qcow2", fs["src.raw"], fs["qemu.qcow2"]]).Ok();
        Assert.Multiple(() =>
        {
            Assert.That(SharedExtents(fs["img.qcow2"]), Is.GreaterThan(0), "img's target shares no clusters with the source");
            Assert.That(Tools.QemuImg("check", fs["img.qcow2"]).ExitCode, Is.Zero);
            Assert.That(Tools.QemuImg("compare", "-F", "raw", fs["img.qcow2"], fs["src.raw"]).ExitCode, Is.Zero);
            Assert.That(GuestMap(fs["img.qcow2"]), Is.EqualTo(GuestMap(fs["qemu.qcow2"])));
        });
    }

    [Test]
    public void Convert_RawToQcow2WhereBlocksCannotBeShared_SameBytesAsQemuImg()
    {
        // ext4 refuses the clone of the first clusters: they are given back and written, as without offload.
        var fs = Mount("ext4", 128L << 20);
        WriteSource(fs["src.raw"]);
        Img.Run(fs.Path, "convert", "-O", "qcow2", "src.raw", "img.qcow2").Ok();
        Tools.QemuImg("convert", "-O", "qcow2", fs["src.raw"], fs["qemu.qcow2"]).Ok();
        Assert.That(File.ReadAllBytes(fs["img.qcow2"]), Is.EqualTo(File.ReadAllBytes(fs["qemu.qcow2"])));
    }

    [TestCase("-C")]
    [TestCase("-S", "0")]
    [TestCase("-S", "4k")]
    public void Convert_TargetOnAnotherFileSystem_FallsBackToWrites(params string[] flags)
    {
        var fs = Mount("xfs");
        WriteSource(fs["src.raw"]);
        Img.Run(_dir.Path, ["convert", .. flags, "-O", "raw", fs["src.raw"], "img.raw"]).Ok();
        Tools.QemuImg("compare", "-f", "raw", "-F", "raw", _dir["img.raw"], fs["src.raw"]).Ok();
        Assert.That(SharedExtents(_dir["img.raw"]), Is.Zero);
    }

    [TestCase("raw", "-C")]
    [TestCase("raw")]
    [TestCase("qcow2")]
    [TestCase("qcow2", "-C")]
    public void Convert_NoSpaceLeftMidCopy_OneImgLine(string targetFormat, params string[] flags)
    {
        // ext4 cannot share blocks: copy_file_range (or the writes) run out of space half-way.
        var fs = Mount("ext4", 64L << 20);
        WriteSource(fs["src.raw"], dataMiB: 36);
        var result = Img.Run(fs.Path, ["convert", .. flags, "-O", targetFormat, "src.raw", "img." + targetFormat]);
        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(1));
            Assert.That(result.Stderr, Does.StartWith("img: ").And.Contain("No space left on device"));
            Assert.That(result.Stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1), result.Stderr);
        });
        if (targetFormat == "qcow2")
        {
            // What the image maps it holds: check finds no corruption (leaked clusters are harmless).
            File.Delete(fs["src.raw"]);
            var check = Tools.QemuImg("check", fs["img.qcow2"]);
            Assert.That(check.ExitCode, Is.AnyOf(0, 3), check.Stdout + check.Stderr);
        }
    }
}
