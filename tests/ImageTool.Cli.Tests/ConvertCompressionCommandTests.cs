using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>img convert -c: the fast encoder by default, qemu-img's exact bytes with --qemu-identical-compression.</summary>
[Category("Qemu")]
public class ConvertCompressionCommandTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        Tools.Require("qemu-img");
        // Text that compresses: the licenses, one after the other, 1 MiB.
        var text = string.Concat(Directory.EnumerateFiles("/usr/share/common-licenses").Select(File.ReadAllText));
        var data = new byte[1 << 20];
        System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(text, data.Length / text.Length + 1))).AsSpan(0, data.Length).CopyTo(data);
        File.WriteAllBytes(_dir["in.raw"], data);
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [Test]
    public void QemuIdenticalCompression_WritesQemuImgsBytes()
    {
        Img.Run(_dir.Path, "convert", "-c", "--qemu-identical-compression", "-O", "qcow2", "in.raw", "img.qcow2").Ok();
        Tools.QemuImg("convert", "-c", "-O", "qcow2", _dir["in.raw"], _dir["q.qcow2"]).Ok();
        Assert.That(File.ReadAllBytes(_dir["img.qcow2"]), Is.EqualTo(File.ReadAllBytes(_dir["q.qcow2"])));
    }

    [Test]
    public void DefaultCompression_QemuReadsTheSameData()
    {
        Img.Run(_dir.Path, "convert", "-c", "-O", "qcow2", "in.raw", "img.qcow2").Ok();
        Tools.QemuImg("check", _dir["img.qcow2"]).Ok();
        Tools.QemuImg("compare", "-f", "raw", "-F", "qcow2", _dir["in.raw"], _dir["img.qcow2"]).Ok();
    }

    [Test]
    public void QemuIdenticalCompression_WithoutC_IsRefused()
    {
        var result = Img.Run(_dir.Path, "convert", "--qemu-identical-compression", "-O", "qcow2", "in.raw", "img.qcow2");
        Assert.That((result.ExitCode, result.Stderr), Is.EqualTo((1, "img: Use of --qemu-identical-compression requires -c\n")));
        Assert.That(File.Exists(_dir["img.qcow2"]), Is.False);
    }
}
