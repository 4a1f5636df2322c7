using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// qemu-iotests 020 on qcow: after commit the overlay is emptied as qemu's qcow_make_empty leaves it (L1 zeroed, the
/// file cut after it), byte for byte, and the chain still reads the committed data.
/// </summary>
[Category("Qemu")]
public class CommitEmptiesGoldenTests : QemuGoldenTestBase
{
    private void Qemu(params string[] args) => Tools.RunIn(Dir.Path, "qemu-img", args).Ok();

    private void Prepare()
    {
        Qemu("create", "-q", "-f", "qcow", "b.qcow", "8M");
        Tools.RunIn(Dir.Path, "qemu-io", "-f", "qcow", "-c", "write -P 0x11 0 8M", "b.qcow").Ok();
        Qemu("create", "-q", "-f", "qcow", "-b", "b.qcow", "-F", "qcow", "t.qcow");
        Tools.RunIn(Dir.Path, "qemu-io", "-f", "qcow", "-c", "write -P 7 0 1M", "-c", "write -P 5 3M 4k", "t.qcow").Ok();
    }

    [Test]
    public void Commit_Qcow_EmptiesTheOverlayAsQemuImg()
    {
        Prepare();
        Tools.RunIn(Dir.Path, "qemu-img", "convert", "-O", "raw", "t.qcow", "expected.raw").Ok();
        Qemu("commit", "-q", "t.qcow");
        byte[] qemuTop = File.ReadAllBytes(Dir["t.qcow"]);
        Prepare();
        Img.Run(Dir.Path, "commit", "-q", "t.qcow").Ok();
        Assert.That(File.ReadAllBytes(Dir["t.qcow"]), Is.EqualTo(qemuTop), "the emptied overlay");
        Tools.RunIn(Dir.Path, "qemu-img", "compare", "-F", "raw", "t.qcow", "expected.raw").Ok();
        Tools.RunIn(Dir.Path, "qemu-img", "compare", "-F", "raw", "b.qcow", "expected.raw").Ok();
    }
}
