using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests.Nbd;

/// <summary>
/// qemu-nbd's -L, -o and repeated -B, and the client's x-dirty-bitmap, each checked against qemu-nbd and
/// qemu-img doing the same.
/// </summary>
public class NbdQemuNbdOptionTests : QemuGoldenTestBase
{
    /// <summary>4 MiB qcow2: data at 0-1.5M and 3M; bitmap b0 saw the writes at 1M and 3M, b1 (then disabled) only the one at 1M.</summary>
    private void MakeImage()
    {
        Tools.QemuImg("create", "-f", "qcow2", Dir["c.qcow2"], "4M").Ok();
        Tools.QemuIo("-c", "write -P 0x11 0 1M", Dir["c.qcow2"]).Ok();
        Tools.QemuImg("bitmap", "--add", Dir["c.qcow2"], "b0").Ok();
        Tools.QemuImg("bitmap", "--add", Dir["c.qcow2"], "b1").Ok();
        Tools.QemuIo("-c", "write -P 0x22 1M 512k", Dir["c.qcow2"]).Ok();
        Tools.QemuImg("bitmap", "--disable", Dir["c.qcow2"], "b1").Ok();
        Tools.QemuIo("-c", "write -P 0x33 3M 64k", Dir["c.qcow2"]).Ok();
    }

    private static void AssertSameAsQemuNbd(Tools.Result img, Tools.Result qemu)
    {
        Assert.Multiple(() =>
        {
            Assert.That(img.Stdout, Is.EqualTo(qemu.Stdout));
            Assert.That(img.Stderr, Is.EqualTo(qemu.Stderr.Replace("qemu-nbd:", "img:", StringComparison.Ordinal)));
            Assert.That(img.ExitCode, Is.EqualTo(qemu.ExitCode));
        });
    }

    [TestCase("qemu-nbd")]
    [TestCase("img")]
    [TestCase("nbdkit")]
    public void List_PrintsTheExportsAsQemuNbd(string server)
    {
        Tools.Require("qemu-nbd");
        MakeImage();
        string[] options = ["-t", "-r", "-e", "3", "-x", "exp", "-D", "the disk", "-A", "-B", "b0", "-B", "b1", "-f", "qcow2"];
        using var peer = server switch
        {
            "qemu-nbd" => NbdPeer.QemuNbd(Dir, "s", "c.qcow2", options),
            "img" => NbdPeer.Img(Dir, "s", "c.qcow2", options),
            _ => NbdPeer.Nbdkit(Dir, "s", "memory", "1M"),
        };

        var qemu = Tools.Run("qemu-nbd", "-L", "-k", peer.Socket);
        var img = Img.Run(Dir.Path, "nbd", "-L", "-k", peer.Socket);

        AssertSameAsQemuNbd(img, qemu);
        Assert.That(img.Stdout, Does.StartWith("exports available: 1\n"));
    }

    [TestCase("-L", "-b", "127.0.0.1", "-p", "1")]
    [TestCase("-L", "-k", "DIR/missing.sock")]
    [TestCase("-L", "c.qcow2")]
    [TestCase("-L", "-f", "raw")]
    [TestCase("-L", "-B", "b0")]
    [TestCase("-L", "-o", "512")]
    [TestCase("-L", "-A")]
    [TestCase("-L", "--discard=unmap")]
    [TestCase("-L", "--fork")]
    [TestCase("-L", "--tls-creds=nope")]
    [TestCase("-k", "relative.sock", "-f", "qcow2", "c.qcow2")]
    [TestCase("-L", "-k", "relative.sock")]
    [TestCase("-k", "", "c.qcow2")]
    [TestCase("-o", "1M", "c.qcow2")]
    [TestCase("-o", "0x1k", "c.qcow2")]
    [TestCase("-o", "-1", "-k", "DIR/x.sock", "-f", "qcow2", "c.qcow2")]
    [TestCase("-o", "4194305", "-k", "DIR/x.sock", "-f", "qcow2", "c.qcow2")]
    [TestCase("-o", "512", "-B", "b0", "-B", "b1", "-k", "DIR/x.sock", "-f", "qcow2", "c.qcow2")]
    public void Refused_AsQemuNbdRefusesIt(params string[] args)
    {
        Tools.Require("qemu-nbd");
        MakeImage();
        // qemu-nbd wants absolute socket paths.
        args = [.. args.Select(a => a.Replace("DIR/", Dir.Path + "/", StringComparison.Ordinal))];

        var qemu = Tools.RunIn(Dir.Path, "qemu-nbd", args);
        var img = Img.Run(Dir.Path, ["nbd", .. args]);

        AssertSameAsQemuNbd(img, qemu);
        Assert.That(img.ExitCode, Is.EqualTo(1));
    }

    [TestCase("--size")]
    [TestCase("--map")]
    [TestCase("--map=qemu:allocation-depth")]
    public void Offset_ServesTheImageFromThere(string nbdinfoOption)
    {
        Tools.Require("qemu-nbd");
        Tools.Require("nbdinfo");
        MakeImage();
        using var img = NbdPeer.Img(Dir, "img", "c.qcow2", "-t", "-r", "-A", "-o", "1048576", "-f", "qcow2");
        using var qemu = NbdPeer.QemuNbd(Dir, "qemu", "c.qcow2", "-t", "-r", "-A", "-o", "1048576", "-f", "qcow2");

        Assert.That(Tools.Run("nbdinfo", nbdinfoOption, img.Url).Ok().Stdout, Is.EqualTo(Tools.Run("nbdinfo", nbdinfoOption, qemu.Url).Ok().Stdout));
        Tools.QemuImg("compare", "-f", "raw", "-F", "raw", img.Url, qemu.Url).Ok();
    }

    [Test]
    public void Offset_WritesLandThatFarIntoTheImage()
    {
        MakeImage();
        File.Copy(Dir["c.qcow2"], Dir["expected.qcow2"]);
        using (var img = NbdPeer.Img(Dir, "img", "c.qcow2", "-o", "512", "-f", "qcow2"))
        {
            Tools.QemuIo("-f", "raw", "-c", "write -P 0x44 0 4k", "-c", "write -P 0x45 1M 64k", img.Url).Ok();
            Assert.That(img.WaitForExit(TimeSpan.FromSeconds(60)), "the server ends when its client has left");
        }
        using (var qemu = NbdPeer.QemuNbd(Dir, "qemu", "expected.qcow2", "-o", "512", "-f", "qcow2"))
        {
            Tools.QemuIo("-f", "raw", "-c", "write -P 0x44 0 4k", "-c", "write -P 0x45 1M 64k", qemu.Url).Ok();
            Assert.That(qemu.WaitForExit(TimeSpan.FromSeconds(60)));
        }

        Tools.QemuImg("check", Dir["c.qcow2"]).Ok();
        Tools.QemuImg("compare", Dir["c.qcow2"], Dir["expected.qcow2"]).Ok();
        Tools.QemuIo("-c", "read -P 0x44 512 4k", Dir["c.qcow2"]).Ok();
    }

    [TestCase("--list")]
    [TestCase("--map=qemu:dirty-bitmap:b0")]
    [TestCase("--map=qemu:dirty-bitmap:b1")]
    public void SeveralBitmaps_EachServedAsQemuNbdServesThem(string nbdinfoOption)
    {
        Tools.Require("qemu-nbd");
        Tools.Require("nbdinfo");
        MakeImage();
        using var img = NbdPeer.Img(Dir, "img", "c.qcow2", "-t", "-r", "-B", "b0", "-B", "b1", "-f", "qcow2");
        using var qemu = NbdPeer.QemuNbd(Dir, "qemu", "c.qcow2", "-t", "-r", "-B", "b0", "-B", "b1", "-f", "qcow2");

        var fromImg = Tools.Run("nbdinfo", nbdinfoOption, img.Url).Ok().Stdout.Replace(img.Socket, "SOCK", StringComparison.Ordinal);
        var fromQemu = Tools.Run("nbdinfo", nbdinfoOption, qemu.Url).Ok().Stdout.Replace(qemu.Socket, "SOCK", StringComparison.Ordinal);

        Assert.That(fromImg, Is.EqualTo(fromQemu));
    }

    [TestCase("map", "--output=json", "qemu:dirty-bitmap:b0")]
    [TestCase("map", "qemu:dirty-bitmap:b0")]
    [TestCase("map", "--output=json", "qemu:dirty-bitmap:b1")]
    [TestCase("map", "--output=json", "qemu:dirty-bitmap:nope")]
    [TestCase("map", "--output=json", "base:allocation")]
    [TestCase("info", "qemu:dirty-bitmap:b0")]
    public void XDirtyBitmap_ClientReadsTheBitmapAsQemuImg(params string[] args)
    {
        Tools.Require("qemu-nbd");
        MakeImage();
        using var qemu = NbdPeer.QemuNbd(Dir, "qemu", "c.qcow2", "-t", "-r", "-B", "b0", "-B", "b1", "-f", "qcow2");
        string opts = $"driver=nbd,server.type=unix,server.path={qemu.Socket},x-dirty-bitmap={args[^1]}";

        Img.AssertSameAsQemu(Dir.Path, [.. args[..^1], "--image-opts", opts]);
    }

    [Test]
    public void XDirtyBitmap_ConvertStillCopiesEveryByte()
    {
        Tools.Require("qemu-nbd");
        MakeImage();
        using var qemu = NbdPeer.QemuNbd(Dir, "qemu", "c.qcow2", "-t", "-r", "-B", "b0", "-f", "qcow2");
        string opts = $"driver=nbd,server.type=unix,server.path={qemu.Socket},x-dirty-bitmap=qemu:dirty-bitmap:b0";

        Img.Run(Dir.Path, "convert", "-O", "raw", "--image-opts", opts, "img.raw").Ok();

        Tools.QemuImg("compare", "-U", "-f", "raw", "-F", "qcow2", Dir["img.raw"], Dir["c.qcow2"]).Ok();
    }
}
