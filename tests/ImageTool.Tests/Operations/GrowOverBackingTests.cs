using ImageTool.Operations;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Operations;

/// <summary>
/// An image that grows over a longer backing file (resize, commit into a shorter base) must hide the backing
/// data past its old end, as qemu's truncate does; img and qemu-img run on twin files and must agree.
/// </summary>
[Category("Qemu")]
public class GrowOverBackingTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        Tools.Require("qemu-img");
        Directory.CreateDirectory(_dir["img"]);
        Directory.CreateDirectory(_dir["q"]);
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private string Img(string name) => _dir[$"img/{name}"];
    private string Q(string name) => _dir[$"q/{name}"];

    /// <summary>Runs <paramref name="build"/> in both twin folders.</summary>
    private void Twins(Action<Func<string, string>> build)
    {
        build(Img);
        build(Q);
    }

    private static void Run(Func<string, string> at, string tool, params string[] args) =>
        Tools.RunIn(Path.GetDirectoryName(at("x")), tool, args).Ok();

    /// <summary>Same guest content, same map (allocation and zero flags), and a clean check for every qcow2 twin.</summary>
    private void AssertTwinsEqual(params (string Name, string Format)[] files) => AssertTwinsEqual(true, files);

    /// <summary>
    /// As above; <paramref name="sameMap"/> false for commits, whose host layout qemu's parallel block job does
    /// not make repeatable.
    /// </summary>
    private void AssertTwinsEqual(bool sameMap, params (string Name, string Format)[] files)
    {
        foreach (var (name, format) in files)
        {
            Tools.QemuImg("compare", "-f", format, "-F", format, Img(name), Q(name)).Ok();
            if (format != "qcow2") continue;
            Tools.QemuImg("check", Img(name)).Ok();
            if (!sameMap) continue;
            string Map(string dir) => Tools.RunIn(dir, "qemu-img", "map", "--output=json", name).Ok().Stdout;
            Assert.That(Map(_dir["img"]), Is.EqualTo(Map(_dir["q"])), $"map of {name}");
        }
    }

    private static void MakeLongBacking(Func<string, string> at)
    {
        Run(at, "qemu-img", "create", "-q", "-f", "raw", "long.raw", "4M");
        Run(at, "qemu-io", "-f", "raw", "-c", "write -P 0xaa 0 4M", "long.raw");
    }

    [TestCase("compat=1.1", "1M", new[] { "4M" })]
    [TestCase("compat=1.1", "1M", new[] { "2500k", "4M" })]
    [TestCase("compat=1.1,cluster_size=4k", "1000k", new[] { "3M" })]
    [TestCase("extended_l2=on", "1001k", new[] { "4M" })]
    [TestCase("compat=1.1", "6M", new[] { "1M", "5M" })]
    public void Resize_OverLongerBacking_HidesBackingLikeQemu(string options, string size, string[] steps)
    {
        Twins(at =>
        {
            MakeLongBacking(at);
            Run(at, "qemu-img", "create", "-q", "-f", "qcow2", "-o", options, "-b", "long.raw", "-F", "raw", "over.qcow2", size);
            Run(at, "qemu-io", "-c", "write -P 0x11 100k 8k", "over.qcow2");
        });
        foreach (string step in steps)
        {
            Tools.QemuImg("resize", "-q", "--shrink", Q("over.qcow2"), step).Ok();
            using var image = DiskImage.Open(Img("over.qcow2"), new OpenOptions { ReadOnly = false });
            Assert.That(ImageTool.Options.SizeParser.TryParse(step, out long bytes, out _), Is.True);
            ResizeOperation.Run(image, bytes, shrink: true);
        }
        AssertTwinsEqual(("over.qcow2", "qcow2"));
        Tools.QemuIo("-r", "-c", "read -P 0 1M 1M", Img("over.qcow2")).Ok();
    }

    [TestCase("metadata")]
    [TestCase("falloc")]
    [TestCase("full")]
    public void Resize_PreallocatedOverLongerBacking_LikeQemu(string preallocation)
    {
        Twins(at =>
        {
            MakeLongBacking(at);
            Run(at, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "long.raw", "-F", "raw", "over.qcow2", "1M");
        });
        Tools.QemuImg("resize", "-q", $"--preallocation={preallocation}", Q("over.qcow2"), "3M").Ok();
        using (var image = DiskImage.Open(Img("over.qcow2"), new OpenOptions { ReadOnly = false }))
            ResizeOperation.Run(image, 3 << 20, preallocation);
        AssertTwinsEqual(("over.qcow2", "qcow2"));
    }

    /// <summary>
    /// An old size inside a cluster (iotests 125, 271): the partial last cluster is mapped anew and must keep what
    /// it read before (written data, or the backing data below it); the grown part reads zeros, also with
    /// extended L2 entries over a backing file.
    /// </summary>
    [TestCase("metadata", "compat=1.1", true)]
    [TestCase("falloc", "compat=1.1", false)]
    [TestCase("falloc", "compat=1.1", true)]
    [TestCase("full", "compat=1.1", false)]
    [TestCase("full", "compat=1.1", true)]
    [TestCase("falloc", "extended_l2=on", false)]
    [TestCase("falloc", "extended_l2=on", true)]
    [TestCase("full", "extended_l2=on", true)]
    public void Resize_PreallocatedFromUnalignedEnd_KeepsOldLastClusterLikeQemu(string preallocation, string options, bool backing)
    {
        Twins(at =>
        {
            string[] backingArgs = [];
            if (backing)
            {
                MakeLongBacking(at);
                backingArgs = ["-b", "long.raw", "-F", "raw"];
            }
            Run(at, "qemu-img", ["create", "-q", "-f", "qcow2", "-o", options, .. backingArgs, "over.qcow2", "503k"]);
            Run(at, "qemu-io", "-c", backing ? "write -P 0xff 0 300k" : "write -P 0xff 0 503k", "over.qcow2");
        });
        Tools.QemuImg("resize", "-q", $"--preallocation={preallocation}", Q("over.qcow2"), "1013k").Ok();
        using (var image = DiskImage.Open(Img("over.qcow2"), new OpenOptions { ReadOnly = false }))
            ResizeOperation.Run(image, 1013 << 10, preallocation);
        AssertTwinsEqual(("over.qcow2", "qcow2"));
        string old = backing ? "read -P 0xaa 300k 203k" : "read -P 0xff 300k 203k";
        var read = Tools.QemuIo("-r", "-c", "read -P 0xff 0 300k", "-c", old, "-c", "read -P 0 503k 510k", Img("over.qcow2")).Ok();
        Assert.That(read.Stdout, Does.Not.Contain("Pattern verification failed"));
    }

    [Test]
    public void Resize_V2OverLongerBacking_FailsLikeQemuAndChangesNothing()
    {
        Twins(at =>
        {
            MakeLongBacking(at);
            Run(at, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-b", "long.raw", "-F", "raw", "v2.qcow2", "1M");
        });
        var qemu = Tools.QemuImg("resize", Q("v2.qcow2"), "4M");
        Assert.That(qemu.Stderr, Does.Contain("Failed to zero out new clusters: Operation not supported"));
        byte[] before = File.ReadAllBytes(Img("v2.qcow2"));
        using (var image = DiskImage.Open(Img("v2.qcow2"), new OpenOptions { ReadOnly = false }))
        {
            var e = Assert.Throws<UnsupportedFeatureException>(() => ResizeOperation.Run(image, 4 << 20));
            Assert.That(e!.Message, Is.EqualTo("Failed to zero out new clusters: Operation not supported"));
        }
        Assert.That(File.ReadAllBytes(Img("v2.qcow2")), Is.EqualTo(before));
    }

    [TestCase("raw", "")]
    [TestCase("qcow2", "")]
    [TestCase("qcow2", "long.raw")]
    public void Commit_IntoShorterBase_GrowsItLikeQemu(string baseFormat, string baseBacking)
    {
        string baseName = $"base.{baseFormat}";
        Twins(at =>
        {
            if (baseBacking != "")
            {
                MakeLongBacking(at);
                Run(at, "qemu-img", "create", "-q", "-f", baseFormat, "-b", baseBacking, "-F", "raw", baseName, "1M");
            }
            else
            {
                Run(at, "qemu-img", "create", "-q", "-f", baseFormat, baseName, "1M");
            }
            Run(at, "qemu-io", "-f", baseFormat, "-c", "write -P 0x22 0 1000k", baseName);
            Run(at, "qemu-img", "create", "-q", "-f", "qcow2", "-b", baseName, "-F", baseFormat, "top.qcow2", "4M");
            Run(at, "qemu-io", "-c", "write -P 0x33 900k 200k", "-c", "write -P 0x44 3M 64k", "top.qcow2");
        });
        Tools.QemuImg("commit", "-q", Q("top.qcow2")).Ok();
        CommitOperation.Run(Img("top.qcow2"), new CommitOptions());
        AssertTwinsEqual(false, (baseName, baseFormat), ("top.qcow2", "qcow2"));
    }

    [Test]
    public void Commit_ThroughShortIntermediate_WritesItsZerosLikeQemu()
    {
        Twins(at =>
        {
            MakeLongBacking(at);
            Run(at, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "long.raw", "-F", "raw", "mid.qcow2", "1M");
            Run(at, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2", "4M");
            Run(at, "qemu-io", "-c", "write -P 0x55 2M 64k", "top.qcow2");
        });
        Tools.QemuImg("commit", "-q", "-b", Q("long.raw"), Q("top.qcow2")).Ok();
        CommitOperation.Run(Img("top.qcow2"), new CommitOptions { Base = Img("long.raw") });
        AssertTwinsEqual(false, ("long.raw", "raw"), ("mid.qcow2", "qcow2"), ("top.qcow2", "qcow2"));
        Tools.QemuIo("-f", "raw", "-r", "-c", "read -P 0 1M 1M", Img("long.raw")).Ok();
    }

    [TestCase("vmdk", "")]
    [TestCase("qcow", "")]
    [TestCase("qcow2", "compat=0.10")]
    public void Commit_IntoBaseThatCannotGrow_FailsLikeQemuAndChangesNothing(string baseFormat, string options)
    {
        string baseName = $"base.{baseFormat}";
        Twins(at =>
        {
            MakeLongBacking(at);
            if (options == "") Run(at, "qemu-img", "create", "-q", "-f", baseFormat, baseName, "1M");
            else Run(at, "qemu-img", "create", "-q", "-f", baseFormat, "-o", options, "-b", "long.raw", "-F", "raw", baseName, "1M");
            Run(at, "qemu-img", "create", "-q", "-f", "qcow2", "-b", baseName, "-F", baseFormat, "top.qcow2", "4M");
            Run(at, "qemu-io", "-c", "write -P 0x66 2M 64k", "top.qcow2");
        });
        var qemu = Tools.QemuImg("commit", Q("top.qcow2"));
        Assert.That((qemu.ExitCode, qemu.Stderr), Is.EqualTo((1, "qemu-img: Block job failed: Operation not supported\n")));
        byte[] baseBefore = File.ReadAllBytes(Img(baseName)), topBefore = File.ReadAllBytes(Img("top.qcow2"));
        var e = Assert.Throws<ImageFormatException>(() => CommitOperation.Run(Img("top.qcow2"), new CommitOptions()));
        Assert.That(e!.Message, Is.EqualTo("Block job failed: Operation not supported"));
        Assert.That(File.ReadAllBytes(Img(baseName)), Is.EqualTo(baseBefore));
        Assert.That(File.ReadAllBytes(Img("top.qcow2")), Is.EqualTo(topBefore));
    }
}
