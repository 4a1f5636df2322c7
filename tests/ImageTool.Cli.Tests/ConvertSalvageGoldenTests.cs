using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// qemu-iotests 251: <c>convert --salvage</c> from a source whose block status and reads fail at some sectors
/// (blkdebug above the format): each failed sector is a warning, in offset order, the block-status ones twice (the
/// counting pass, then the copy); failed block status is copied as data, failed reads are written as zeros. img
/// and qemu-img on the same source.
/// </summary>
[Category("Qemu")]
public class ConvertSalvageGoldenTests : QemuGoldenTestBase
{
    private const int Sector = 512;
    private static readonly long[] StatusFailures = [(1 << 20) + 8192, (3 << 20) + 512];
    private static readonly long[] ReadFailures = [(2 << 20) - 65536, (3 << 20) + 512, 4 << 20, (4 << 20) + 512, (4 << 20) + 1024];

    private static string Rule(string iotype, long offset) =>
        $"{{ 'event': 'none', 'iotype': '{iotype}', 'errno': 5, 'sector': {offset / Sector} }}";

    private static string Source(string format) =>
        $"json:{{'driver': 'blkdebug', 'image': {{'driver': '{format}', 'file': {{'driver': 'file', 'filename': 'src.img'}}}}, " +
        "'inject-error': [" + string.Join(", ", StatusFailures.Select(o => Rule("block-status", o)).Concat(ReadFailures.Select(o => Rule("read", o)))) + "]}";

    // qcow2 as in 251; over raw, qemu's file-posix block status splits the runs elsewhere (a known difference).
    [TestCase("qcow2")]
    public void Salvage_WarnsPerFailedSectorAndCopiesWhatQemuImgCopies(string format)
    {
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", format, "src.img", "8M").Ok();
        Tools.RunIn(Dir.Path, "qemu-io", "-f", format, "-c", "write -P 42 0 6M", "src.img").Ok();
        var qemu = Tools.RunIn(Dir.Path, "qemu-img", "convert", "--salvage", "-O", "raw", Source(format), "qemu.raw");
        var img = Img.Run(Dir.Path, "convert", "--salvage", "-O", "raw", Source(format), "img.raw");
        Assert.Multiple(() =>
        {
            Assert.That(img.Stderr, Is.EqualTo(qemu.Stderr.Replace("qemu-img", "img", StringComparison.Ordinal)));
            Assert.That(img.ExitCode, Is.EqualTo(qemu.ExitCode));
            Assert.That(qemu.Stderr, Does.Contain("warning: error while reading offset"), "qemu-img salvaged something");
        });
        Tools.RunIn(Dir.Path, "qemu-img", "compare", "-f", "raw", "-F", "raw", "qemu.raw", "img.raw").Ok();
    }

    [Test]
    public void Salvage_Quiet_PrintsNoWarnings()
    {
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "qcow2", "src.img", "8M").Ok();
        Tools.RunIn(Dir.Path, "qemu-io", "-f", "qcow2", "-c", "write -P 42 0 6M", "src.img").Ok();
        Img.AssertSameAsQemu(Dir.Path, ["convert", "-q", "--salvage", "-O", "raw", Source("qcow2"), "out.raw"]);
    }
}
