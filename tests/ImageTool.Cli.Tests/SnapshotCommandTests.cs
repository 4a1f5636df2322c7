using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>img snapshot against qemu-img snapshot on the same files (CLI.md §8).</summary>
[Category("Qemu")]
public class SnapshotCommandTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        Tools.Require("qemu-img");
        Tools.QemuImg("create", "-q", "-f", "qcow2", _dir["t.qcow2"], "4M").Ok();
        Tools.QemuIo("-c", "write -P 0x5a 0 100k", _dir["t.qcow2"]).Ok();
        Tools.QemuImg("snapshot", "-c", "snap1", _dir["t.qcow2"]).Ok();
        Tools.QemuImg("snapshot", "-c", "a-much-longer-snapshot-name-xyz", _dir["t.qcow2"]).Ok();
        Tools.QemuImg("create", "-q", "-f", "qcow2", _dir["empty.qcow2"], "1M").Ok();
        SeededData.WriteRaw(_dir["r.raw"], 1 << 20, 1, (0, 512));
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private void Fresh()
    {
        File.Copy(_dir["t.qcow2"], _dir["w.qcow2"], overwrite: true);
        File.Copy(_dir["r.raw"], _dir["w.raw"], overwrite: true);
    }

    [TestCase("snapshot -l t.qcow2")]
    [TestCase("snapshot -l -U t.qcow2")]
    [TestCase("snapshot -l empty.qcow2")]
    [TestCase("snapshot -l r.raw")]
    [TestCase("snapshot -a nosuch w.qcow2")]
    [TestCase("snapshot -d nosuch w.qcow2")]
    [TestCase("snapshot -d 1 w.qcow2")]
    [TestCase("snapshot -a 1 w.qcow2")]
    [TestCase("snapshot -a snap1 w.qcow2")]
    [TestCase("snapshot -d snap1 w.qcow2")]
    [TestCase("snapshot -l -c x w.qcow2")]
    [TestCase("snapshot -a x -d y w.qcow2")]
    [TestCase("snapshot -c x")]
    [TestCase("snapshot -l w.qcow2 extra")]
    [TestCase("snapshot -c")]
    [TestCase("snapshot -f qcow2 -l w.qcow2")]
    [TestCase("snapshot w.qcow2")]
    [TestCase("snapshot -c x w.raw")]
    [TestCase("snapshot -a x w.raw")]
    [TestCase("snapshot -d x w.raw")]
    [TestCase("snapshot -l nonexist.qcow2")]
    public void Snapshot_SameAsQemuImg(string command)
    {
        Img.AssertSameAsQemu(_dir.Path, command.Split(' '), Fresh);
        if (command.Contains("w.qcow2", StringComparison.Ordinal))
        {
            // Both tools leave the same snapshot list behind.
            Assert.That(Img.Run(_dir.Path, "snapshot", "-l", "w.qcow2").Stdout,
                Is.EqualTo(Tools.RunIn(_dir.Path, "qemu-img", "snapshot", "-l", "w.qcow2").Stdout));
        }
    }

    [TestCase("convert -O raw -l nosuch t.qcow2 out.raw")]
    [TestCase("convert -O raw -l snapshot.id=1,snapshot.name=zz t.qcow2 out.raw")]
    [TestCase("convert -O raw -l 1 t.qcow2 t.qcow2 out.raw")]
    [TestCase("convert -f raw -O raw -l 1 r.raw out.raw")]
    public void ConvertSnapshotErrors_SameAsQemuImg(string command) => Img.AssertSameAsQemu(_dir.Path, command.Split(' '), Fresh);

    [TestCase("1")]
    [TestCase("snap1")]
    [TestCase("snapshot.name=snap1")]
    [TestCase("snapshot.id=1,snapshot.name=snap1")]
    public void ConvertSnapshot_ReadsSnapshotState(string param)
    {
        Fresh();
        Tools.QemuIo("-c", "write -P 0x66 0 300k", _dir["w.qcow2"]).Ok();
        Tools.RunIn(_dir.Path, "qemu-img", "convert", "-O", "raw", "-l", param, "w.qcow2", "q.raw").Ok();
        Img.Run(_dir.Path, "convert", "-O", "raw", "-l", param, "w.qcow2", "i.raw").Ok();
        byte[] mine = File.ReadAllBytes(_dir["i.raw"]);
        Assert.That(mine, Is.EqualTo(File.ReadAllBytes(_dir["q.raw"])));
        Assert.That(mine[0], Is.EqualTo(0x5a), "the snapshot's data, not the current 0x66");
    }

    [Test]
    public void CreateApplyDelete_ByImg_QemuSeesSnapshotsAndCheckIsClean()
    {
        Fresh();
        Img.Run(_dir.Path, "snapshot", "-c", "mine", "w.qcow2").Ok();
        Tools.QemuIo("-c", "write -P 0x77 0 64k", _dir["w.qcow2"]).Ok();
        string list = Tools.RunIn(_dir.Path, "qemu-img", "snapshot", "-l", "w.qcow2").Ok().Stdout;
        Assert.That(list, Does.Contain("\n3         mine "));
        Assert.That(Img.Run(_dir.Path, "info", "w.qcow2").Ok().Stdout, Is.EqualTo(Tools.RunIn(_dir.Path, "qemu-img", "info", "w.qcow2").Stdout));
        Img.Run(_dir.Path, "snapshot", "-a", "mine", "w.qcow2").Ok();
        Tools.QemuIo("-c", "read -P 0x5a 0 100k", _dir["w.qcow2"]).Ok();
        Img.Run(_dir.Path, "snapshot", "-d", "mine", "w.qcow2").Ok();
        Img.Run(_dir.Path, "snapshot", "-d", "snap1", "w.qcow2").Ok();
        Tools.QemuImg("check", _dir["w.qcow2"]).Ok();
        Assert.That(Tools.RunIn(_dir.Path, "qemu-img", "snapshot", "-l", "w.qcow2").Stdout,
            Does.Contain("a-much-longer-snapshot-name-xyz").And.Not.Contain("snap1"));
    }
}
