using ImageTool.Formats;
using ImageTool.Tests.Support;

namespace ImageTool.Tests;

public class RegistryTests
{
    [Test]
    public void Probe_UnknownContent_IsRaw()
    {
        Assert.That(FormatRegistry.ProbeBytes(SeededData.Bytes(2048, 1)).Name, Is.EqualTo("raw"));
        Assert.That(FormatRegistry.ProbeBytes([]).Name, Is.EqualTo("raw"));
    }

    [Test]
    public void Open_UnknownDriver_SaysSo()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["x"], new byte[512]);
        var e = Assert.Throws<ImageFormatException>(() => DiskImage.Open(dir["x"], new OpenOptions { Format = "foo" }));
        Assert.That(e!.Message, Is.EqualTo($"Could not open '{dir["x"]}': Unknown driver 'foo'"));
    }

    [Test]
    public void Open_MissingFile_RepeatsPrefixAsQemu()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<ImageFormatException>(() => DiskImage.Open(dir["nope"]));
        Assert.That(e!.Message, Is.EqualTo($"Could not open '{dir["nope"]}': Could not open '{dir["nope"]}': No such file or directory"));
    }

    [Test]
    public void Open_ProbedRawForWriting_Warns()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["w.raw"], new byte[4096]);
        var warnings = new List<string>();
        using (DiskImage.Open(dir["w.raw"], new OpenOptions { ReadOnly = false, Warning = w => warnings.Add(w.Message) })) { }
        using (DiskImage.Open(dir["w.raw"], new OpenOptions { ReadOnly = true, Warning = w => warnings.Add(w.Message) })) { }
        using (DiskImage.Open(dir["w.raw"], new OpenOptions { ReadOnly = false, Format = "raw", Warning = w => warnings.Add(w.Message) })) { }
        Assert.That(warnings, Has.Count.EqualTo(1));
        Assert.That(warnings[0], Does.StartWith($"WARNING: Image format was not specified for '{dir["w.raw"]}' and probing guessed raw."));
    }

    [TestCase("sub/ov.qcow2", "base.raw", "sub/base.raw")]
    [TestCase("ov.qcow2", "base.raw", "base.raw")]
    [TestCase("sub/ov.qcow2", "/abs/base.raw", "/abs/base.raw")]
    [TestCase("sub/ov.qcow2", "../base.raw", "sub/../base.raw")]
    public void BackingPath_JoinsOverlayDirectory(string overlay, string backing, string expected) =>
        Assert.That(BackingPath.Resolve(overlay, backing), Is.EqualTo(expected));
}
