using ImageTool.Operations;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Operations;

/// <summary>convert -c against qemu-img convert -c on the same inputs (iotests 122).</summary>
[Category("Qemu")]
public class ConvertCompressedTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        Tools.Require("qemu-img");
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private void Io(string format, string file, params string[] commands) =>
        Tools.QemuIo(["-f", format, .. commands.SelectMany(c => new[] { "-c", c }), _dir[file]]).Ok();

    [TestCase("compat=1.1")]
    [TestCase("compat=0.10")]
    public void ConvertCompressed_WithTargetBase_ZeroAreasOfSourceReadAsZeros(string options)
    {
        Tools.QemuImg("create", "-q", "-f", "qcow2", _dir["base.qcow2"], "1M").Ok();
        Io("qcow2", "base.qcow2", "write -P 0xaa 0 1M");
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-b", _dir["base.qcow2"], "-F", "qcow2", _dir["src.qcow2"], "1M").Ok();
        Io("qcow2", "src.qcow2", "write -z 64k 128k", "write -P 0x11 512k 64k", "write -z 900k 24k");
        Tools.QemuImg("convert", "-c", "-O", "qcow2", "-o", options, "-B", _dir["base.qcow2"], "-F", "qcow2", _dir["src.qcow2"], _dir["q.qcow2"]).Ok();
        ConvertOperation.Run([_dir["src.qcow2"]], _dir["img.qcow2"], new ConvertOptions
        {
            OutputFormat = "qcow2",
            OutputOptions = new ImageTool.Options.ImageOptions().Set("compat", options[7..]),
            Compress = true,
            BackingFile = _dir["base.qcow2"],
            BackingFormat = "qcow2",
        });
        Tools.QemuImg("compare", _dir["src.qcow2"], _dir["q.qcow2"]).Ok();
        Tools.QemuImg("compare", _dir["src.qcow2"], _dir["img.qcow2"]).Ok();
        Tools.QemuImg("check", _dir["img.qcow2"]).Ok();
    }

    [TestCase("zlib")]
    [TestCase("zstd")]
    public void ConvertCompressed_SourcesEndingInsideClusters_CopiesEverySourceLikeQemu(string type)
    {
        Tools.QemuImg("create", "-q", "-f", "raw", _dir["a.raw"], "100k").Ok();
        Io("raw", "a.raw", "write -P 0x11 0 100k");
        Tools.QemuImg("create", "-q", "-f", "raw", _dir["b.raw"], "300k").Ok();
        Io("raw", "b.raw", "write -P 0x22 0 20k", "write -P 0x33 200k 100k");
        string[] sources = [_dir["a.raw"], _dir["b.raw"], _dir["a.raw"]];
        Tools.QemuImg(["convert", "-c", "-O", "qcow2", "-o", $"compression_type={type}", .. sources, _dir["q.qcow2"]]).Ok();
        ConvertOperation.Run(sources, _dir["img.qcow2"], new ConvertOptions
        {
            OutputFormat = "qcow2",
            OutputOptions = new ImageTool.Options.ImageOptions().Set("compression_type", type),
            Compress = true,
            QemuIdenticalCompression = true,
        });
        Tools.QemuImg("compare", _dir["q.qcow2"], _dir["img.qcow2"]).Ok();
        Tools.QemuImg("check", _dir["img.qcow2"]).Ok();
        // Every cluster goes through the same libz/libzstd as qemu-img's: the same file, byte for byte.
        Assert.That(File.ReadAllBytes(_dir["img.qcow2"]), Is.EqualTo(File.ReadAllBytes(_dir["q.qcow2"])));
    }
}
