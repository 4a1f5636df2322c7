using System.Buffers.Binary;
using ImageTool.Check;
using ImageTool.Operations;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Robustness;

/// <summary>Differences the corpus sweep (tools/corpus) and the mutation test found, each checked against qemu-img.</summary>
public class CorpusRegressionTests
{
    private static string ImgMap(string path)
    {
        using var image = DiskImage.Open(path);
        var output = new StringWriter();
        MapOperation.Write(image, output, json: true);
        return output.ToString();
    }

    private static void QemuIn(TempDir dir, params string[] args) => Tools.RunIn(dir.Path, "qemu-img", args).Ok();

    [TestCase("preallocation=metadata", "write -P 7 1M 64k")] // host holes of a metadata-preallocated image read as zeros
    [TestCase("preallocation=falloc", "write -P 7 1M 64k")] // not so for a fully allocated one
    [TestCase("extended_l2=on,cluster_size=2M", "write -P 1 0 3k")] // subcluster padding left as host holes
    [TestCase("extended_l2=on,cluster_size=16k", "write -P 1 0 3k")] // unallocated subclusters keep the cluster's offset
    [TestCase("data_file=DIR/d.data", "write -P 1 0 70k")] // an external data file is never looked at
    public void Map_MatchesQemuImg(string options, string write)
    {
        using var dir = new TempDir();
        // (a relative data file name is relative to the working directory, in qemu too)
        QemuIn(dir, "create", "-q", "-f", "qcow2", "-o", options.Replace("DIR", dir.Path, StringComparison.Ordinal), "t.qcow2", "8M");
        Tools.RunIn(dir.Path, "qemu-io", "-f", "qcow2", "-c", write, "-c", "write -z 5M 64k", "t.qcow2").Ok();
        Assert.That(ImgMap(dir["t.qcow2"]), Is.EqualTo(Tools.QemuImg("map", "--output=json", dir["t.qcow2"]).Ok().Stdout));
    }

    [Test]
    public void CompareStrict_RunReachingTheEnd_DiffersFromShorterRun()
    {
        using var dir = new TempDir();
        QemuIn(dir, "create", "-q", "-f", "raw", "-o", "preallocation=full", "full.raw", "1M");
        QemuIn(dir, "convert", "-O", "raw", "full.raw", "copy.raw"); // qemu writes only its first 4 KiB
        var lines = new List<string>();
        using (var a = DiskImage.Open(dir["full.raw"]))
        using (var b = DiskImage.Open(dir["copy.raw"]))
            CompareOperation.Run(a, b, "full.raw", "copy.raw", strict: true, lines.Add);
        var qemu = Tools.RunIn(dir.Path, "qemu-img", "compare", "-s", "full.raw", "copy.raw");
        Assert.That(string.Join("\n", lines) + "\n", Is.EqualTo(qemu.Stdout));
    }

    [TestCase(4, "base")] // the name ends at the first NUL, as a C string
    [TestCase(0, null)] // an empty name is no backing file
    public void BackingName_WithNul_ReadAsCString(int at, string? expected)
    {
        using var dir = new TempDir();
        QemuIn(dir, "create", "-q", "-f", "raw", "base.raw", "1M");
        QemuIn(dir, "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "o.qcow2");
        var bytes = File.ReadAllBytes(dir["o.qcow2"]);
        long nameOffset = (long)BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(8));
        bytes[nameOffset + at] = 0;
        File.WriteAllBytes(dir["o.qcow2"], bytes);
        var info = InfoOperation.Collect(dir["o.qcow2"], new OpenOptions(), backingChain: false)[0];
        Assert.That(info.BackingFilename, Is.EqualTo(expected));
        Assert.That(Tools.QemuImg("info", dir["o.qcow2"]).Ok().Stdout.Contains("backing file: base", StringComparison.Ordinal), Is.EqualTo(expected != null));
    }

    [Test]
    public void Check_RefcountBlockOffsetWithBit63_IsACorruptionAsInQemu()
    {
        using var dir = new TempDir();
        string path = dir["r.qcow2"];
        QemuIn(dir, "create", "-q", "-f", "qcow2", "r.qcow2", "1M");
        var bytes = File.ReadAllBytes(path);
        long table = (long)BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(48));
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan((int)table + 8), 0x8000_0000_0001_0000);
        File.WriteAllBytes(path, bytes);
        using var image = DiskImage.Open(path);
        var result = CheckOperation.Run(image, CheckRepair.None, _ => { });
        var qemu = Tools.QemuImg("check", path);
        Assert.That(result.ExitCode, Is.EqualTo(qemu.ExitCode));
        Assert.That(result.Report.Corruptions, Is.GreaterThan(0));
    }

    [Test]
    public void Read_TableOffsetWithBit63_IsAnIOError()
    {
        using var dir = new TempDir();
        string path = dir["q.qcow"];
        QemuIn(dir, "create", "-q", "-f", "qcow", "q.qcow", "1M");
        var bytes = File.ReadAllBytes(path);
        long l1 = (long)BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(40));
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan((int)l1), 0x8000_0000_0000_1000);
        File.WriteAllBytes(path, bytes);
        using var image = DiskImage.Open(path);
        var e = Assert.Throws<IOException>(() => image.GetBlockStatus(0, image.Length));
        Assert.That(e!.Message, Is.EqualTo("Input/output error"));
    }
}
