using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>The read-only bochs and dmg formats through the CLI: output, errors and exit codes as qemu-img's on the same files.</summary>
[Category("Qemu")]
public class BochsDmgCommandTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp()
    {
        Tools.Require("qemu-img");
        _dir = new TempDir();
        SeededData.WriteRaw(_dir["src.raw"], 1 << 20, 3, (0, 70000), (600 << 10, 4096));
        Tools.RunIn(_dir.Path, "bximage", "-q", "-func=convert", "-imgmode=growing", "src.raw", "b.img").Ok();
        global::ImageTool.Tests.Formats.Dmg.DmgTestImage.Write(_dir["d.dmg"],
        [
            global::ImageTool.Tests.Formats.Dmg.DmgTestImage.RawChunk(SeededData.Bytes(8192, 1)),
            global::ImageTool.Tests.Formats.Dmg.DmgTestImage.ZeroChunk(100),
            global::ImageTool.Tests.Formats.Dmg.DmgTestImage.ZlibChunk(SeededData.Bytes(65536, 2)),
        ]);
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private void Clean()
    {
        foreach (var f in new[] { "out.raw", "x.img", "x.dmg" }) File.Delete(_dir[f]);
    }

    [TestCase("info b.img")]
    [TestCase("info --output=json b.img")]
    [TestCase("map b.img")]
    [TestCase("map --output=json b.img")]
    [TestCase("check b.img")]
    [TestCase("resize b.img 2M")]
    [TestCase("amend -o size=2M b.img")]
    [TestCase("commit b.img")]
    [TestCase("snapshot -l b.img")]
    [TestCase("compare b.img src.raw")]
    [TestCase("convert -O raw b.img out.raw")]
    [TestCase("create -f bochs x.img 1M")]
    [TestCase("create -f bochs -o help")]
    [TestCase("convert -O bochs src.raw x.img")]
    [TestCase("create -f dmg x.dmg 1M")]
    [TestCase("convert -O dmg src.raw x.dmg")]
    public void Bochs_SameAsQemuImg(string command) => Img.AssertSameAsQemu(_dir.Path, command.Split(' '), Clean);

    /// <summary>Debian's qemu-img prints two lines about missing dmg modules on every dmg open; img has nothing to say there.</summary>
    [TestCase("info d.dmg")]
    [TestCase("info --output=json d.dmg")]
    [TestCase("map --output=json d.dmg")]
    [TestCase("check d.dmg")]
    [TestCase("resize d.dmg 2M")]
    [TestCase("convert -O raw d.dmg out.raw")]
    public void Dmg_SameAsQemuImg_ApartFromModuleNotices(string command)
    {
        Clean();
        var qemu = Tools.RunIn(_dir.Path, "qemu-img", command.Split(' '));
        byte[]? qemuOut = File.Exists(_dir["out.raw"]) ? File.ReadAllBytes(_dir["out.raw"]) : null;
        Clean();
        var img = Img.Run(_dir.Path, command.Split(' '));
        string stderr = string.Concat(qemu.Stderr.Split('\n').Where(l => !l.StartsWith("qemu: module ", StringComparison.Ordinal)).Select(l => l + "\n"))
            .TrimEnd('\n').Replace("qemu-img", "img", StringComparison.Ordinal);
        Assert.Multiple(() =>
        {
            Assert.That(img.Stdout, Is.EqualTo(qemu.Stdout.Replace("qemu-img", "img", StringComparison.Ordinal)));
            Assert.That(img.Stderr.TrimEnd('\n'), Is.EqualTo(stderr));
            Assert.That(img.ExitCode, Is.EqualTo(qemu.ExitCode));
        });
        if (qemuOut != null) Assert.That(File.ReadAllBytes(_dir["out.raw"]), Is.EqualTo(qemuOut));
    }
}
