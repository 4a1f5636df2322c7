using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// qemu-iotests 112: snapshot -c on an image whose refcounts cannot take one more reference fails with EINVAL after
/// the L1 copy was written, whose cluster qemu leaves leaked; check then reports the same leak for both programs.
/// </summary>
[Category("Qemu")]
public class SnapshotRefcountLimitGoldenTests : QemuGoldenTestBase
{
    [TestCase("refcount_bits=1", 1)]
    [TestCase("refcount_bits=2", 3)]
    public void SnapshotCreate_PastTheRefcountLimit_FailsAndLeaksAsQemuImg(string options, int fitting)
    {
        void Prepare()
        {
            Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "qcow2", "-o", options, "t.qcow2", "64M").Ok();
            Tools.RunIn(Dir.Path, "qemu-io", "-f", "qcow2", "-c", "write 0 512", "t.qcow2").Ok();
            for (int i = 1; i < fitting; i++) Tools.RunIn(Dir.Path, "qemu-img", "snapshot", "-c", "s" + i, "t.qcow2").Ok();
        }
        Img.AssertSameAsQemu(Dir.Path, ["snapshot", "-c", "foo", "t.qcow2"], Prepare);
        var imgCheck = Tools.RunIn(Dir.Path, "qemu-img", "check", "t.qcow2");
        Prepare();
        Tools.RunIn(Dir.Path, "qemu-img", "snapshot", "-c", "foo", "t.qcow2");
        var qemuCheck = Tools.RunIn(Dir.Path, "qemu-img", "check", "t.qcow2");
        Assert.That(imgCheck.Stdout, Is.EqualTo(qemuCheck.Stdout));
    }
}
