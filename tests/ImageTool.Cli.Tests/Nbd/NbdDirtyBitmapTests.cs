using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests.Nbd;

/// <summary>img nbd -B NAME: a qcow2 persistent bitmap as the qemu:dirty-bitmap:NAME meta context, as qemu-nbd -B serves it.</summary>
public class NbdDirtyBitmapTests : QemuGoldenTestBase
{
    /// <summary>An enabled bitmap b0 that saw two writes (one spanning granules), a disabled empty b1, and a bitmap in the backing file.</summary>
    private void MakeImage()
    {
        Tools.QemuImg("create", "-f", "qcow2", Dir["base.qcow2"], "8M").Ok();
        Tools.QemuImg("bitmap", "--add", "-g", "128k", Dir["base.qcow2"], "inbase").Ok();
        Tools.QemuIo("-c", "write -P 7 6M 4k", Dir["base.qcow2"]).Ok();
        Tools.QemuImg("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", Dir["bm.qcow2"]).Ok();
        Tools.QemuImg("bitmap", "--add", Dir["bm.qcow2"], "b0").Ok();
        Tools.QemuIo("-c", "write -P 1 1M 64k", "-c", "write -P 2 3M 200k", "-c", "write -P 3 8388096 512", Dir["bm.qcow2"]).Ok();
        Tools.QemuImg("bitmap", "--add", "--disable", Dir["bm.qcow2"], "b1").Ok();
    }

    [TestCase("b0", "--map=qemu:dirty-bitmap:b0")]
    [TestCase("b0", "--map=qemu:dirty-bitmap:b0 --totals")]
    [TestCase("b0", "--map")]
    [TestCase("b0", "--list")]
    [TestCase("b1", "--map=qemu:dirty-bitmap:b1")]
    [TestCase("inbase", "--map=qemu:dirty-bitmap:inbase")]
    public void Nbdinfo_OfImgNbdWithBitmap_SameAsQemuNbd(string bitmap, string options)
    {
        Tools.Require("nbdinfo");
        Tools.Require("qemu-nbd");
        MakeImage();
        using var img = NbdPeer.Img(Dir, "img", "bm.qcow2", "-t", "-r", "-f", "qcow2", "-A", "-B", bitmap);
        using var qemu = NbdPeer.QemuNbd(Dir, "qemu", "bm.qcow2", "-t", "-r", "-f", "qcow2", "-A", "-B", bitmap);
        string[] Args(NbdPeer peer) => [.. options.Split(' '), peer.Url];

        var fromImg = Tools.Run("nbdinfo", Args(img)).Ok();
        var fromQemu = Tools.Run("nbdinfo", Args(qemu)).Ok();

        Assert.That(fromImg.Stdout.Replace(img.Socket, "SOCK", StringComparison.Ordinal),
            Is.EqualTo(fromQemu.Stdout.Replace(qemu.Socket, "SOCK", StringComparison.Ordinal)));
        if (options.Contains("dirty-bitmap:b0", StringComparison.Ordinal)) Assert.That(fromImg.Stdout, Does.Contain("dirty"));
    }

    [Test]
    public void MissingBitmap_QemuNbdsError()
    {
        MakeImage();

        var result = Img.Run(Dir.Path, "nbd", "-r", "-B", "nope", "-f", "qcow2", "-k", Dir["x.sock"], "bm.qcow2");

        Assert.That(result.Stderr, Is.EqualTo("img: Bitmap 'nope' is not found\n"));
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(File.Exists(Dir["x.sock"]), Is.False);
    }
}
