using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests.Rbd;

/// <summary>
/// img on Ceph RBD images (rbd:pool/image, --image-opts driver=rbd) next to qemu-img's own rbd driver, both
/// on the same one-node cluster: same output and exit codes, and each reads what the other wrote.
/// </summary>
[NonParallelizable]
public class RbdInteropTests : QemuGoldenTestBase
{
    private static CephCluster? s_cluster;
    private static int s_counter;

    [OneTimeSetUp]
    public void StartCluster()
    {
        Tools.Require("qemu-img");
        if (!File.Exists("/usr/lib/x86_64-linux-gnu/qemu/block-rbd.so"))
        {
            if (Tools.InCi) Assert.Fail("qemu-block-extra (qemu-img's rbd driver) is required under CI=true");
            Assert.Ignore("qemu-block-extra is not installed");
        }
        s_cluster = CephCluster.Start();
    }

    [OneTimeTearDown]
    public void StopCluster()
    {
        s_cluster?.Dispose();
        s_cluster = null;
    }

    private static string NewName() => $"t{Interlocked.Increment(ref s_counter)}-{Environment.ProcessId}";

    /// <summary>A 64 MiB image with data in objects 0 and 2, snapshot s1 taken before the second write.</summary>
    private static string MakeImage()
    {
        string name = NewName();
        Tools.QemuImg("create", "-f", "raw", $"rbd:rbd/{name}", "64M").Ok();
        Tools.QemuIo("-f", "raw", "-c", "write -P 0x55 1M 1M", $"rbd:rbd/{name}").Ok();
        CephCluster.Rbd("snap", "create", $"rbd/{name}@s1").Ok();
        Tools.QemuIo("-f", "raw", "-c", "write -P 0x66 8M 64k", $"rbd:rbd/{name}").Ok();
        return name;
    }

    [TestCase("info", "rbd:rbd/IMG")]
    [TestCase("info", "--output=json", "rbd:rbd/IMG")]
    [TestCase("info", "rbd:rbd/IMG@s1")]
    [TestCase("info", "-f", "rbd", "rbd:rbd/IMG")]
    [TestCase("info", "-f", "raw", "rbd:rbd/IMG:id=admin:conf=CONF")]
    [TestCase("info", "--image-opts", "driver=rbd,pool=rbd,image=IMG,user=admin")]
    [TestCase("info", "--image-opts", "driver=raw,file.driver=rbd,file.pool=rbd,file.image=IMG")]
    [TestCase("map", "-f", "raw", "rbd:rbd/IMG")]
    [TestCase("map", "-f", "raw", "--output=json", "rbd:rbd/IMG")]
    [TestCase("map", "-f", "raw", "--output=json", "rbd:rbd/IMG@s1")]
    [TestCase("snapshot", "-l", "rbd:rbd/IMG")]
    [TestCase("compare", "-f", "raw", "-F", "raw", "rbd:rbd/IMG", "rbd:rbd/IMG@s1")]
    [TestCase("compare", "rbd:rbd/IMG@s1", "rbd:rbd/IMG@s1")]
    [TestCase("check", "rbd:rbd/IMG")]
    public void Command_OnRbdImage_SameAsQemuImg(params string[] args)
    {
        string name = MakeImage();
        Img.AssertSameAsQemu(Dir.Path, [.. args.Select(a => a.Replace("IMG", name, StringComparison.Ordinal).Replace("CONF", s_cluster!.Conf, StringComparison.Ordinal))]);
    }

    [TestCase("info", "rbd:rbd/missing")]
    [TestCase("info", "rbd:nopool/x")]
    [TestCase("info", "rbd:rbd")]
    [TestCase("info", "rbd:rbd/IMG@nosnap")]
    [TestCase("info", "rbd:rbd/ns/IMG")]
    [TestCase("info", "rbd:rbd/IMG:foo=bar")]
    [TestCase("info", "rbd:rbd/IMG:foo")]
    [TestCase("info", "rbd:rbd/IMG:conf=/nonexistent/ceph.conf")]
    [TestCase("info", "--image-opts", "driver=rbd,pool=rbd")]
    [TestCase("resize", "rbd:rbd/IMG@s1", "100M")]
    [TestCase("snapshot", "-a", "nope", "rbd:rbd/IMG")]
    [TestCase("snapshot", "-d", "nope", "rbd:rbd/IMG")]
    [TestCase("snapshot", "-c", "s1", "rbd:rbd/IMG")]
    [TestCase("convert", "-l", "s1", "-O", "raw", "rbd:rbd/IMG", "out.raw")]
    [TestCase("create", "-f", "raw", "rbd:rbd/IMG", "1M")]
    [TestCase("create", "-f", "raw", "rbd:rbd/IMG2", "1M", "-o", "preallocation=full")]
    [TestCase("create", "-f", "raw", "rbd:nopool/IMG", "1M")]
    [TestCase("create", "-f", "raw", "rbd:rbd/IMG2", "1M", "-o", "cluster_size=1000")]
    public void BadInput_SameMessageAsQemuImg(params string[] args)
    {
        string name = MakeImage();
        Img.AssertSameAsQemu(Dir.Path, [.. args.Select(a => a.Replace("IMG", name, StringComparison.Ordinal))]);
    }

    [Test]
    public void Info_ClusterDown_TimesOutWithQemuWords()
    {
        // Nothing listens on the monitor address: librados gives up after client_mount_timeout.
        string name = "rbd:rbd/x:mon_host=127.0.0.1\\:1:client_mount_timeout=3";
        var started = DateTime.UtcNow;
        Img.AssertSameAsQemu(Dir.Path, ["info", name]);
        Assert.That(DateTime.UtcNow - started, Is.LessThan(TimeSpan.FromSeconds(60)));

        var img = Img.RunWithEnvironment(Dir.Path, new Dictionary<string, string> { ["IMG_RBD_TIMEOUT"] = "2" }, "info", "rbd:rbd/x:mon_host=127.0.0.1\\:1");
        Assert.That(img.ExitCode, Is.EqualTo(1));
        Assert.That(img.Stderr, Is.EqualTo("img: Could not open 'rbd:rbd/x:mon_host=127.0.0.1\\:1': error connecting: Connection timed out\n"));
    }

    [Test]
    public void Create_SameImageAsQemuImg()
    {
        string a = NewName(), b = NewName();
        var img = Img.Run(Dir.Path, "create", "-f", "raw", $"rbd:rbd/{a}", "24M", "-o", "cluster_size=1M").Ok();
        var qemu = Tools.QemuImg("create", "-f", "raw", $"rbd:rbd/{b}", "24M", "-o", "cluster_size=1M").Ok();

        Assert.That(img.Stdout, Is.EqualTo(qemu.Stdout.Replace(b, a, StringComparison.Ordinal)));
        Assert.That(Tools.QemuImg("info", $"rbd:rbd/{a}").Stdout,
            Is.EqualTo(Tools.QemuImg("info", $"rbd:rbd/{b}").Stdout.Replace(b, a, StringComparison.Ordinal)));
    }

    [Test]
    public void Convert_IntoAndOutOfPool_RoundTripsAsQemuImg()
    {
        Tools.QemuImg("create", "-f", "qcow2", Dir["src.qcow2"], "20M").Ok();
        Tools.QemuIo("-c", "write -P 0x11 0 300k", "-c", "write -P 0 5M 1M", "-c", "write -P 0x22 9M 5M", "-c", "write -z 16M 1M", Dir["src.qcow2"]).Ok();
        string a = NewName(), b = NewName();

        Img.Run(Dir.Path, "convert", "-O", "raw", "src.qcow2", $"rbd:rbd/{a}").Ok();
        Tools.QemuImg("convert", "-O", "raw", Dir["src.qcow2"], $"rbd:rbd/{b}").Ok();

        Tools.QemuImg("compare", Dir["src.qcow2"], $"rbd:rbd/{a}").Ok();
        // Holes stay holes: the same RBD objects are allocated as by qemu-img.
        Assert.That(Tools.QemuImg("map", "-f", "raw", "--output=json", $"rbd:rbd/{a}").Stdout,
            Is.EqualTo(Tools.QemuImg("map", "-f", "raw", "--output=json", $"rbd:rbd/{b}").Stdout));

        Img.Run(Dir.Path, "convert", "-O", "qcow2", $"rbd:rbd/{a}", "back.qcow2").Ok();
        Tools.QemuImg("convert", "-O", "qcow2", $"rbd:rbd/{b}", Dir["qemu.qcow2"]).Ok();
        Tools.QemuImg("compare", Dir["src.qcow2"], Dir["back.qcow2"]).Ok();
        Assert.That(Tools.QemuImg("map", "--output=json", Dir["back.qcow2"]).Stdout,
            Is.EqualTo(Tools.QemuImg("map", "--output=json", Dir["qemu.qcow2"]).Stdout));
    }

    [Test]
    public void Convert_IntoExistingImageWithN_OverwritesAndKeepsSize()
    {
        string name = MakeImage();
        Tools.QemuImg("create", "-f", "raw", Dir["src.raw"], "64M").Ok();
        Tools.QemuIo("-f", "raw", "-c", "write -P 0x77 2M 3M", Dir["src.raw"]).Ok();

        Img.Run(Dir.Path, "convert", "-n", "-f", "raw", "-O", "raw", "src.raw", $"rbd:rbd/{name}").Ok();

        Tools.QemuImg("compare", "-f", "raw", "-F", "raw", Dir["src.raw"], $"rbd:rbd/{name}").Ok();
        // The snapshot still holds what it held.
        Tools.QemuIo("-r", "-f", "raw", "-c", "read -P 0x55 1M 1M", $"rbd:rbd/{name}@s1").Ok();
        Img.AssertSameAsQemu(Dir.Path, ["convert", "-n", "-f", "raw", "-O", "raw", "src.raw", $"rbd:rbd/missing-{name}"]);
    }

    [Test]
    public void Snapshot_CreateApplyDelete_SeenByQemuImgAndRbd()
    {
        string name = MakeImage();
        string image = $"rbd:rbd/{name}";

        Img.Run(Dir.Path, "snapshot", "-c", "s2", image).Ok();
        Tools.QemuIo("-f", "raw", "-c", "write -P 0x99 1M 64k", image).Ok();
        Assert.That(CephCluster.Rbd("snap", "ls", $"rbd/{name}").Ok().Stdout, Does.Contain("s2"));
        Img.AssertSameAsQemu(Dir.Path, ["snapshot", "-l", image]);

        Img.Run(Dir.Path, "snapshot", "-a", "s2", image).Ok();
        Tools.QemuIo("-f", "raw", "-c", "read -P 0x55 1M 64k", image).Ok();
        Tools.QemuImg("compare", "-f", "raw", "-F", "raw", image, $"{image}@s2").Ok();

        Img.Run(Dir.Path, "snapshot", "-d", "s2", image).Ok();
        Assert.That(CephCluster.Rbd("snap", "ls", $"rbd/{name}").Ok().Stdout, Does.Not.Contain("s2"));
        Img.AssertSameAsQemu(Dir.Path, ["info", image]);
    }

    [Test]
    public void Resize_GrowAndShrink_SameAsQemuImg()
    {
        string a = MakeImage(), b = MakeImage();

        Assert.That(Img.Run(Dir.Path, "resize", "-f", "raw", $"rbd:rbd/{a}", "100M").Ok().Stdout,
            Is.EqualTo(Tools.QemuImg("resize", "-f", "raw", $"rbd:rbd/{b}", "100M").Ok().Stdout));
        Assert.That(Tools.QemuImg("info", "-f", "raw", $"rbd:rbd/{a}").Stdout, Does.Contain("virtual size: 100 MiB"));

        Img.Run(Dir.Path, "resize", "-f", "raw", "--shrink", $"rbd:rbd/{a}", "4M").Ok();
        Assert.That(Tools.QemuImg("info", "-f", "raw", $"rbd:rbd/{a}").Stdout, Does.Contain("virtual size: 4 MiB"));
        Img.AssertSameAsQemu(Dir.Path, ["resize", "-f", "raw", $"rbd:rbd/{a}", "2M"]);
    }
}
