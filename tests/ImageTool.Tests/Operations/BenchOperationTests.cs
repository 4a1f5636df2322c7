using ImageTool.Operations;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Operations;

public class BenchOperationTests
{
    [Test]
    public void Header_AsQemuPrintsIt()
    {
        Assert.That(BenchOperation.Header(new BenchOptions { Count = 10, Write = true, Depth = 2, Step = 8192, Offset = 4096 }),
            Is.EqualTo("Sending 10 write requests, 4096 bytes each, 2 in parallel (starting at offset 4096, step size 8192)"));
        Assert.That(BenchOperation.Header(new BenchOptions()),
            Is.EqualTo("Sending 75000 read requests, 4096 bytes each, 64 in parallel (starting at offset 0, step size 4096)"));
    }

    [Test]
    public void Run_WritesPatternAtSteppedOffsets_ImageStaysConsistent()
    {
        using var dir = new TempDir();
        string path = dir["b.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", path, "1M").Ok();
        using (var image = DiskImage.Open(path, new OpenOptions { ReadOnly = false }))
            BenchOperation.Run(image, new BenchOptions { Count = 300, Depth = 8, Write = true, Pattern = 7, Step = 8192, FlushInterval = 8 });
        Tools.QemuImg("check", path).Ok();
        // 300 steps of 8 KiB wrap around the 1 MiB image: every even 4 KiB block holds the pattern.
        var r = Tools.QemuIo("-c", "read -P 7 0 4k", "-c", "read -P 0 4k 4k", "-c", "read -P 7 1040384 4k", path).Ok();
        Assert.That(r.Stdout, Does.Not.Contain("failed"));
    }

    [Test]
    public void Run_PastTheEnd_FailsLikeQemu()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-q", "-f", "qcow2", dir["e.qcow2"], "1M").Ok();
        using var image = DiskImage.Open(dir["e.qcow2"]);
        var e = Assert.Throws<IOException>(() => BenchOperation.Run(image, new BenchOptions { Count = 10, Offset = 2 << 20 }));
        Assert.That(e!.Message, Is.EqualTo("Failed request: Input/output error"));
    }
}
