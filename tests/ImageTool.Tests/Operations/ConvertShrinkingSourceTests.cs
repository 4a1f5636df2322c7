using ImageTool.Operations;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Operations;

/// <summary>
/// A source file cut short while convert reads it (issue 22's bad input): the convert fails with one clear message
/// instead of copying zeros for the lost part (qemu-img pads its reads with zeros and exits 0), the target stays
/// consistent, and nothing crashes (a memory-mapped read of a truncated file raises SIGBUS and kills the process,
/// so this test guards every way of reading a local file).
/// </summary>
[Category("Qemu")]
public class ConvertShrinkingSourceTests
{
    private const long Size = 48 << 20;
    private const long CutTo = 4 << 20;

    [TestCase("raw")]
    [TestCase("qcow2")]
    public void Convert_SourceTruncatedMidway_FailsCleanly(string format)
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["src.raw"], Size, seed: 23, [(0, (int)Size)]);
        var head = new byte[CutTo];
        using (var f = File.OpenRead(dir["src.raw"])) f.ReadExactly(head);
        bool cut = false;
        var options = new ConvertOptions
        {
            OutputFormat = format,
            SourceOptions = new OpenOptions { Format = "raw" },
            Progress = new SyncProgress<double>(p =>
            {
                if (cut || p < 10) return;
                using (var f = new FileStream(dir["src.raw"], FileMode.Open, FileAccess.Write)) f.SetLength(CutTo);
                cut = true;
            }),
        };

        var e = Assert.Throws<ImageFormatException>(() => ConvertOperation.Run([dir["src.raw"]], dir["dst"], options));

        Assert.That(e!.Message, Does.Match("^error while reading (at byte|block status at offset) [0-9]+: the source shrank to 4194304 bytes while it was read$"));
        if (format == "qcow2") Tools.QemuImg("check", dir["dst"]).Ok();
        // What was copied before the cut is the source's.
        var copied = new byte[CutTo];
        using var target = DiskImage.Open(dir["dst"], new OpenOptions { Format = format });
        target.Read(0, copied);
        Assert.That(copied, Is.EqualTo(head));
    }
}
