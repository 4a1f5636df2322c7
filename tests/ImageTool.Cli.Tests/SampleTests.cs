using System.Reflection;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>samples/ImageCat, built with the solution, run on images qemu-img wrote: its output is qemu-img's raw conversion.</summary>
public class SampleTests
{
    private static int RunImageCat(params string[] args)
    {
        // The sample is referenced by this project, so its assembly sits beside the tests; run its entry point.
        var entry = Assembly.Load("ImageCat").EntryPoint ?? throw new InvalidOperationException("ImageCat has no entry point");
        return (int)entry.Invoke(null, [args])!;
    }

    [TestCase("qcow2")]
    [TestCase("vmdk")]
    [TestCase("vhdx")]
    public void ImageCat_StreamsTheGuestBytes_AsQemuImgConvertDoes(string format)
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        string image = dir[$"disk.{format}"];
        Tools.QemuImg("create", "-q", "-f", format, image, "8M").Ok();
        Tools.QemuIo("-f", format, "-c", "write -P 0x5a 1M 64k", "-c", "write -P 0xa5 6M 4k", image).Ok();
        Tools.QemuImg("convert", "-f", format, "-O", "raw", image, dir["expected.raw"]).Ok();

        Assert.That(RunImageCat(image, dir["actual.raw"]), Is.Zero);

        Assert.That(File.ReadAllBytes(dir["actual.raw"]), Is.EqualTo(File.ReadAllBytes(dir["expected.raw"])));
    }

    [Test]
    public void ImageCat_OnAMissingImage_SaysSoAndFails()
    {
        using var dir = new TempDir();
        Assert.That(RunImageCat(dir["missing.qcow2"], dir["out.raw"]), Is.EqualTo(1));
    }
}
