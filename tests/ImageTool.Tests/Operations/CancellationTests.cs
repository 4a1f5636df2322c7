using ImageTool.Operations;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Operations;

/// <summary>A cancelled convert or commit stops, flushes its target and says so: qemu-img check finds the target clean.</summary>
public class CancellationTests
{
    private const long Size = 32 << 20;

    // Data in 1 MiB runs with 1 MiB holes between them: many runs, so progress (and the cancel it triggers) comes early.
    private static (long, int)[] Runs() => [.. Enumerable.Range(0, 16).Select(i => (i * 2L << 20, 1 << 20))];

    [TestCase(false)]
    [TestCase(true)]
    public void Convert_CancelledHalfway_LeavesAConsistentTarget(bool compress)
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["src.raw"], Size, seed: 17, Runs());
        using var cts = new CancellationTokenSource();
        var options = new ConvertOptions
        {
            OutputFormat = "qcow2",
            Compress = compress,
            SourceOptions = new OpenOptions { Format = "raw" },
            Progress = new SyncProgress<double>(p => { if (p >= 30) cts.Cancel(); }),
        };

        var e = Assert.Throws<OperationCanceledException>(() => ConvertOperation.Run([dir["src.raw"]], dir["dst.qcow2"], options, cts.Token));

        Assert.That(e!.Message, Does.StartWith($"Convert cancelled: '{dir["dst.qcow2"]}' holds the first ").And.EndWith("bytes; it was flushed and is consistent but incomplete"));
        Assert.That(e.CancellationToken, Is.EqualTo(cts.Token));
        Assert.That(Tools.QemuImg("check", dir["dst.qcow2"]).Ok().Stdout, Does.Contain("No errors were found on the image."));
        // What was copied is there: the first run reads back as the source's.
        var expected = new byte[1 << 20];
        var actual = new byte[1 << 20];
        using (var source = DiskImage.Open(dir["src.raw"], new OpenOptions { Format = "raw" })) source.Read(0, expected);
        using (var target = DiskImage.Open(dir["dst.qcow2"])) target.Read(0, actual);
        Assert.That(actual, Is.EqualTo(expected));
    }

    [Test]
    public void Convert_CancelledBeforeItStarts_CreatesNoTarget()
    {
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["src.raw"], 1 << 20, seed: 3, (0, 4096));
        Assert.Throws<OperationCanceledException>(() => ConvertOperation.Run([dir["src.raw"]], dir["dst.qcow2"],
            new ConvertOptions { OutputFormat = "qcow2", SourceOptions = new OpenOptions { Format = "raw" } }, new CancellationToken(canceled: true)));
        Assert.That(File.Exists(dir["dst.qcow2"]), Is.False);
    }

    [Test]
    public void Commit_CancelledHalfway_LeavesBaseConsistentAndTopUnchanged()
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        Tools.QemuImg("create", "-q", "-f", "qcow2", dir["base.qcow2"], "32M").Ok();
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", dir["top.qcow2"]).Ok();
        Tools.QemuIo([.. Runs().SelectMany(r => new[] { "-c", $"write -P {r.Item1 >> 20} {r.Item1} {r.Item2}" }), dir["top.qcow2"]]).Ok();
        File.Copy(dir["top.qcow2"], dir["top-before.qcow2"]);
        using var cts = new CancellationTokenSource();

        var e = Assert.Throws<OperationCanceledException>(() => CommitOperation.Run(dir["top.qcow2"],
            new CommitOptions { Progress = new SyncProgress<double>(p => { if (p >= 30) cts.Cancel(); }) }, cts.Token));

        Assert.That(e!.Message, Does.StartWith("Commit cancelled: ").And.Contain("was flushed, so it is consistent"));
        Assert.That(Tools.QemuImg("check", dir["base.qcow2"]).Ok().Stdout, Does.Contain("No errors were found on the image."));
        Assert.That(Tools.QemuImg("check", dir["top.qcow2"]).Ok().Stdout, Does.Contain("No errors were found on the image."));
        // The chain still reads as before; the base got part of the data.
        Tools.QemuImg("compare", "-f", "qcow2", "-F", "qcow2", dir["top.qcow2"], dir["top-before.qcow2"]).Ok();
        Assert.That(Tools.QemuImg("map", "--output=json", "-f", "qcow2", dir["base.qcow2"]).Ok().Stdout, Does.Contain("\"data\": true"));
    }
    [Test]
    public void Dd_CancelledThroughItsProgress_LeavesAConsistentTarget()
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["src.raw"], Size, seed: 5, Runs());
        using var cts = new CancellationTokenSource();
        var seen = new List<double>();
        var options = new DdOptions(dir["src.raw"], dir["dst.qcow2"], BlockSize: 4096)
        {
            SourceOptions = new OpenOptions { Format = "raw" },
            OutputFormat = "qcow2",
            Progress = new SyncProgress<double>(p => { seen.Add(p); if (p >= 30) cts.Cancel(); }),
        };

        var e = Assert.Throws<OperationCanceledException>(() => DdOperation.Run(options, _ => { }, cts.Token));

        Assert.That(e!.Message, Does.StartWith($"dd cancelled: '{dir["dst.qcow2"]}' holds the first ").And.EndWith("it was flushed and is consistent but incomplete"));
        Assert.That(seen[0], Is.Zero);
        Assert.That(seen, Is.Ordered);
        Assert.That(seen[^1], Is.GreaterThanOrEqualTo(30).And.LessThan(100));
        Assert.That(Tools.QemuImg("check", dir["dst.qcow2"]).Ok().Stdout, Does.Contain("No errors were found on the image."));
    }

    [Test]
    public void Convert_ReportsProgressThroughIProgress_FromZeroToHundred()
    {
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["src.raw"], Size, seed: 9, Runs());
        var seen = new List<double>();
        ConvertOperation.Run([dir["src.raw"]], dir["dst.qcow2"], new ConvertOptions
        {
            OutputFormat = "qcow2",
            SourceOptions = new OpenOptions { Format = "raw" },
            Progress = new SyncProgress<double>(seen.Add),
        });
        Assert.That((seen[0], seen[^1]), Is.EqualTo((0.0, 100.0)));
        Assert.That(seen, Is.Ordered);
        // Every copied chunk reports (the CLI's meter throttles to qemu's one-point steps): 16 runs of 1 MiB.
        Assert.That(seen.Distinct().Count(), Is.GreaterThan(5));
    }
}
