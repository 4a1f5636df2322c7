using ImageTool.Tests.Support;
using static ImageTool.Tests.Formats.Qcow2.Qcow2ExtendedL2Tests;

namespace ImageTool.Tests.Formats.Qcow2;

/// <summary>External data files (data_file, data_file_raw) against qemu-img/qemu-io 7.2.</summary>
public class Qcow2DataFileTests
{
    [TestCase("data_file=d.raw")]
    [TestCase("data_file=d.raw,data_file_raw=on")]
    [TestCase("data_file=d.raw,extended_l2=on")]
    [TestCase("data_file=d.raw,data_file_raw=on,extended_l2=on,cluster_size=32k")]
    public void Read_QemuWrittenDataFileImage_MatchesQemuAndInfoEqual(string options)
    {
        using var dir = new TempDir();
        string path = dir["x.qcow2"];
        // qemu 7.2 resolves a relative data file name against the working directory: use an absolute one.
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", options.Replace("d.raw", dir["d.raw"], StringComparison.Ordinal), path, "4M").Ok();
        Tools.QemuIo("-c", "write -P 0x11 0 64k", "-c", "write -P 0x55 1000k 100k", "-c", "write -z 2M 64k", "-c", "write -P 0x66 3M 4k", path).Ok();
        Assert.That(ImgRead(path), Is.EqualTo(QemuRead(dir, path)));
        string qemu = Tools.QemuImg("info", path).Ok().Stdout;
        Assert.That(qemu, Does.Contain($"data file: {dir["d.raw"]}"));
        Assert.That(ImgInfo(path, json: false), Is.EqualTo(qemu));
        Assert.That(ImgInfo(path, json: true), Is.EqualTo(Tools.QemuImg("info", "--output=json", path).Ok().Stdout));
        var (output, exitCode) = ImgCheck(path);
        Assert.That(exitCode, Is.Zero);
        Assert.That(output, Is.EqualTo(Tools.QemuImg("check", path).Ok().Stdout));
    }

    [Test]
    public void Open_DataFileMissing_ClearErrorButInfoWorks()
    {
        using var dir = new TempDir();
        string path = dir["x.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", $"data_file={dir["d.raw"]}", path, "1M").Ok();
        File.Delete(dir["d.raw"]);
        var e = Assert.Throws<ImageFormatException>(() => DiskImage.Open(path).Dispose());
        Assert.That(e!.Message, Does.Contain($"Could not open '{dir["d.raw"]}': No such file or directory"));
        Assert.That(ImgInfo(path, json: false), Is.EqualTo(Tools.QemuImg("info", path).Ok().Stdout));
    }

    [TestCase("data_file=d.raw")]
    [TestCase("data_file=d.raw,data_file_raw=on")]
    [TestCase("data_file=d.raw,preallocation=full")]
    [TestCase("data_file=d.raw,data_file_raw=on,extended_l2=on")]
    public void Create_DataFile_ByteIdenticalToQemuAndDataFileCreated(string options)
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["i"]);
        Directory.CreateDirectory(dir["q"]);
        File.WriteAllBytes(dir["i/d.raw"], [1, 2, 3]); // recreated, as qemu does
        // As qemu, a relative data_file is created relative to the working directory: use absolute names of equal length.
        Qcow2InteropTests.Create(dir["i/x.qcow2"], 3 << 20, options.Replace("d.raw", dir["i/d.raw"], StringComparison.Ordinal));
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", options.Replace("d.raw", dir["q/d.raw"], StringComparison.Ordinal), dir["q/x.qcow2"], "3M").Ok();
        var expected = File.ReadAllBytes(dir["q/x.qcow2"]);
        int at = expected.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(dir["q/d.raw"]));
        System.Text.Encoding.UTF8.GetBytes(dir["i/d.raw"]).CopyTo(expected, at);
        Assert.That(File.ReadAllBytes(dir["i/x.qcow2"]), Is.EqualTo(expected));
        Assert.That(File.ReadAllBytes(dir["i/d.raw"]), Is.EqualTo(File.ReadAllBytes(dir["q/d.raw"])));
        Tools.QemuImg("check", dir["i/x.qcow2"]).Ok();
    }

    [TestCase("data_file_raw=on", null, "data-file-raw requires data-file")]
    [TestCase("data_file=d.raw,data_file_raw=on", "b.qcow2", "Backing file and data-file-raw cannot be used at the same time")]
    [TestCase("data_file=d.raw,compat=0.10", null, "External data files are only supported with compatibility level 1.1 and above (use version=v3 or greater)")]
    public void Create_InvalidDataFileOptions_FailsWithQemuMessage(string options, string? backing, string message)
    {
        using var dir = new TempDir();
        if (backing != null) Tools.QemuImg("create", "-q", "-f", "qcow2", dir[backing], "1M").Ok();
        var e = Assert.Catch<ImageFormatException>(() => Qcow2InteropTests.Create(dir["x.qcow2"], 1 << 20, options, backing, backing == null ? null : "qcow2"));
        Assert.That(e!.Message, Is.EqualTo(message));
    }

    [TestCase("", 1)]
    [TestCase(",data_file_raw=on", 2)]
    [TestCase(",cluster_size=4k", 3)]
    public void Write_RandomWritesAndZeroes_QemuCheckAndCompareClean(string options, int seed)
    {
        using var dir = new TempDir();
        string path = dir["x.qcow2"];
        const int size = 6 << 20;
        Qcow2InteropTests.Create(path, size, $"data_file={dir["d.raw"]}{options}");
        var model = new byte[size];
        var random = new Random(seed);
        using (var image = Qcow2InteropTests.OpenRw(path))
        {
            for (int n = 0; n < 60; n++)
            {
                int offset = random.Next(size - 1);
                int length = Math.Min(random.Next(1, 300_000), size - offset);
                ModelWrites.Apply(image, model, offset, length, zero: n % 4 == 3, mayDeallocate: n % 8 == 3, seed * 100 + n);
            }
        }
        File.WriteAllBytes(dir["model.raw"], model);
        Tools.QemuImg("check", path).Ok();
        Tools.QemuImg("compare", dir["model.raw"], path).Ok();
        Assert.That(ImgRead(path), Is.EqualTo(model));
        if (options.Contains("raw", StringComparison.Ordinal)) Assert.That(File.ReadAllBytes(dir["d.raw"]), Is.EqualTo(model));
    }

    [Test]
    public void Write_OverQemuWrittenDataFileImage_QemuReadsResult()
    {
        using var dir = new TempDir();
        string path = dir["x.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", $"data_file={dir["d.raw"]}", path, "2M").Ok();
        Tools.QemuIo("-c", "write -P 0x11 0 128k", "-c", "write -z 512k 64k", path).Ok();
        using (var image = Qcow2InteropTests.OpenRw(path))
        {
            image.Write(4096, new byte[] { 0x22, 0x22 });
            image.Write(520 << 10, new byte[] { 0x33 });
        }
        Tools.QemuIo("-c", "read -P 0x11 0 4096", "-c", "read -P 0x22 4096 2", "-c", "read -P 0x11 4098 126974",
            "-c", "read -P 0 512k 8k", "-c", "read -P 0x33 520k 1", path).Ok();
        Tools.QemuImg("check", path).Ok();
    }

    [Test]
    public void CreateSnapshot_WithDataFile_OperationNotSupportedAsQemu()
    {
        using var dir = new TempDir();
        string path = dir["x.qcow2"];
        Qcow2InteropTests.Create(path, 1 << 20, $"data_file={dir["d.raw"]}");
        using var image = Qcow2InteropTests.OpenRw(path);
        var e = Assert.Catch<ImageFormatException>(() => ImageTool.Operations.SnapshotOperation.Create(image, "s", DateTimeOffset.UnixEpoch));
        Assert.That(e!.Message, Is.EqualTo("Could not create snapshot 's': -95 (Operation not supported)"));
    }

    /// <summary>iotests 244 "Truncation (growing)": data appended to a raw data file shows through the grown image.</summary>
    [TestCase("data_file_raw=on")]
    [TestCase("data_file_raw=on,extended_l2=on")]
    public void Resize_GrowRawDataFile_MapsNewAreaLikeQemu(string options)
    {
        using var dir = new TempDir();
        foreach (string twin in new[] { "i", "q" })
        {
            Directory.CreateDirectory(dir[twin]);
            Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", $"data_file={dir[$"{twin}/d.raw"]},{options}", dir[$"{twin}/x.qcow2"], "1M").Ok();
            Tools.QemuIo("-c", "write -P 42 0 1M", dir[$"{twin}/x.qcow2"]).Ok();
            using (var data = File.Open(dir[$"{twin}/d.raw"], FileMode.Open)) data.SetLength(2 << 20);
            Tools.QemuIo("-f", "raw", "-c", "write -P 84 1M 1M", dir[$"{twin}/d.raw"]).Ok();
        }
        Tools.QemuImg("resize", "-q", dir["q/x.qcow2"], "2M").Ok();
        using (var image = Qcow2InteropTests.OpenRw(dir["i/x.qcow2"]))
            ImageTool.Operations.ResizeOperation.Run(image, 2 << 20);
        Tools.QemuImg("compare", dir["q/x.qcow2"], dir["i/x.qcow2"]).Ok();
        // With extended L2 entries qemu 7.2 maps the new clusters but leaves their subclusters unallocated (zeros).
        if (!options.Contains("extended_l2", StringComparison.Ordinal))
            Assert.That(Tools.QemuIo("-c", "read -P 84 1M 1M", dir["i/x.qcow2"]).Ok().Stdout, Does.Not.Contain("Pattern verification failed"));
        string Map(string twin) => Tools.RunIn(dir[twin], "qemu-img", "map", "--output=json", "x.qcow2").Ok().Stdout;
        Assert.That(Map("i"), Is.EqualTo(Map("q")));
        Tools.QemuImg("check", dir["i/x.qcow2"]).Ok();
        Assert.That(new FileInfo(dir["i/d.raw"]).Length, Is.EqualTo(new FileInfo(dir["q/d.raw"]).Length));
    }
}
