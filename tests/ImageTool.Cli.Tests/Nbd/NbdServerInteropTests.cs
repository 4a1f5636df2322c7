using System.Net.Sockets;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests.Nbd;

/// <summary>img nbd as the server of qemu-img, qemu-io, nbdinfo and nbdcopy, checked against qemu-nbd serving the same image.</summary>
public class NbdServerInteropTests : QemuGoldenTestBase
{
    /// <summary>A qcow2 over a qcow2 base: data in both layers, a zero cluster, unallocated space.</summary>
    private void MakeChain()
    {
        Tools.QemuImg("create", "-f", "qcow2", Dir["base.qcow2"], "8M").Ok();
        Tools.QemuIo("-c", "write -P 0x11 0 1M", "-c", "write -P 0x12 4M 512k", Dir["base.qcow2"]).Ok();
        Tools.QemuImg("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", Dir["top.qcow2"]).Ok();
        Tools.QemuIo("-c", "write -P 0x21 512k 1M", "-c", "write -z 4M 64k", "-c", "write -P 0x22 7M 64k", Dir["top.qcow2"]).Ok();
    }

    private string WithoutUrls(string text, params NbdPeer[] peers)
    {
        foreach (var peer in peers) text = text.Replace(peer.Url, "URL", StringComparison.Ordinal).Replace(peer.Socket, "SOCK", StringComparison.Ordinal);
        return text;
    }

    [TestCase("info", "URL")]
    [TestCase("info", "--output=json", "URL")]
    [TestCase("map", "--output=json", "URL")]
    [TestCase("map", "URL")]
    [TestCase("compare", "URL", "top.qcow2")]
    public void QemuImg_ReadingImgNbd_SeesWhatQemuNbdServes(params string[] args)
    {
        Tools.Require("qemu-nbd");
        MakeChain();
        using var img = NbdPeer.Img(Dir, "img", "top.qcow2", "-t", "-r", "-f", "qcow2");
        using var qemu = NbdPeer.QemuNbd(Dir, "qemu", "top.qcow2", "-t", "-r", "-f", "qcow2");

        var fromImg = Tools.RunIn(Dir.Path, "qemu-img", [.. args.Select(a => a == "URL" ? img.Url : a)]);
        var fromQemu = Tools.RunIn(Dir.Path, "qemu-img", [.. args.Select(a => a == "URL" ? qemu.Url : a)]);

        Assert.That(WithoutUrls(fromImg.Stdout + fromImg.Stderr, img), Is.EqualTo(WithoutUrls(fromQemu.Stdout + fromQemu.Stderr, qemu)));
        Assert.That(fromImg.ExitCode, Is.EqualTo(fromQemu.ExitCode));
    }

    [TestCase("--map")]
    [TestCase("--map=qemu:allocation-depth")]
    [TestCase("--list")]
    [TestCase("")]
    public void Nbdinfo_OfImgNbd_SameAsOfQemuNbd(string option)
    {
        Tools.Require("nbdinfo");
        Tools.Require("qemu-nbd");
        MakeChain();
        using var img = NbdPeer.Img(Dir, "img", "top.qcow2", "-t", "-r", "-f", "qcow2", "-A", "-x", "exp", "-D", "the disk");
        using var qemu = NbdPeer.QemuNbd(Dir, "qemu", "top.qcow2", "-t", "-r", "-f", "qcow2", "-A", "-x", "exp", "-D", "the disk");
        string[] Args(NbdPeer peer) => option.Length == 0
            ? [$"nbd+unix:///exp?socket={peer.Socket}"]
            : [option, option == "--list" ? $"nbd+unix:///?socket={peer.Socket}" : $"nbd+unix:///exp?socket={peer.Socket}"];

        var fromImg = Tools.Run("nbdinfo", Args(img)).Ok();
        var fromQemu = Tools.Run("nbdinfo", Args(qemu)).Ok();

        Assert.That(WithoutUrls(fromImg.Stdout, img), Is.EqualTo(WithoutUrls(fromQemu.Stdout, qemu)));
    }

    [Test]
    public void Nbdcopy_FromImgNbd_CopiesTheWholeChain()
    {
        Tools.Require("nbdcopy");
        MakeChain();
        using var img = NbdPeer.Img(Dir, "img", "top.qcow2", "-r", "-f", "qcow2");

        Tools.Run("nbdcopy", img.Url, Dir["copy.raw"]).Ok();

        Tools.QemuImg("compare", "-f", "raw", "-F", "qcow2", Dir["copy.raw"], Dir["top.qcow2"]).Ok();
        Assert.That(img.WaitForExit(TimeSpan.FromSeconds(10)), "without -t the server ends when its last client has left");
    }

    [Test]
    public void Writes_ThroughImgNbd_LandInTheImageAsQemuIoWritesThem()
    {
        MakeChain();
        File.Copy(Dir["top.qcow2"], Dir["expected.qcow2"]);
        // The server's default --discard=ignore makes the trim a no-op, so the expected image has no discard.
        string[] commands = ["-c", "write -P 0x44 2M 300k", "-c", "write -z 7M 64k", "-c", "write -P 0x45 -f 100k 4k", "-c", "flush"];
        using var img = NbdPeer.Img(Dir, "img", "top.qcow2", "-t", "-f", "qcow2");

        Tools.QemuIo(["-f", "raw", .. commands, "-c", "discard 512k 64k", img.Url]).Ok();
        Tools.QemuIo([.. commands, Dir["expected.qcow2"]]).Ok();
        img.Terminate();

        Tools.QemuImg("check", Dir["top.qcow2"]).Ok();
        Tools.QemuImg("compare", Dir["top.qcow2"], Dir["expected.qcow2"]).Ok();
    }

    [Test]
    public void Convert_ByQemuImgIntoImgNbd_WritesTheImage()
    {
        MakeChain();
        Tools.QemuImg("create", "-f", "qcow2", Dir["target.qcow2"], "8M").Ok();
        using (var img = NbdPeer.Img(Dir, "img", "target.qcow2", "-f", "qcow2"))
        {
            Tools.QemuImg("convert", "-n", "-O", "raw", Dir["top.qcow2"], img.Url).Ok();
            Assert.That(img.WaitForExit(TimeSpan.FromSeconds(10)), "the server ends when qemu-img has left");
        }

        Tools.QemuImg("check", Dir["target.qcow2"]).Ok();
        Tools.QemuImg("compare", Dir["target.qcow2"], Dir["top.qcow2"]).Ok();
    }

    [Test]
    public void ReadOnly_WriteRefused_ImageUnchanged()
    {
        MakeChain();
        File.Copy(Dir["top.qcow2"], Dir["before.qcow2"]);
        using var img = NbdPeer.Img(Dir, "img", "top.qcow2", "-t", "-r", "-f", "qcow2");

        var result = Tools.QemuIo("-f", "raw", "-c", "write -P 0x99 0 4k", img.Url);

        Assert.That(result.ExitCode + result.Stdout + result.Stderr, Does.Contain("Operation not permitted").Or.Contain("Permission denied"));
        img.Terminate();
        Tools.QemuImg("compare", Dir["top.qcow2"], Dir["before.qcow2"]).Ok();
    }

    [Test]
    public void Snapshot_WritesVisibleToClientsButNotInTheImage()
    {
        MakeChain();
        File.Copy(Dir["top.qcow2"], Dir["before.qcow2"]);
        using var img = NbdPeer.Img(Dir, "img", "top.qcow2", "-t", "-s", "-f", "qcow2");

        Tools.QemuIo("-f", "raw", "-c", "write -P 0x99 0 4k", img.Url).Ok();
        Tools.QemuIo("-f", "raw", "-c", "read -P 0x99 0 4k", img.Url).Ok();
        img.Terminate();

        Tools.QemuImg("compare", Dir["top.qcow2"], Dir["before.qcow2"]).Ok();
    }

    [Test]
    public void ImageLock_HeldWhileServing_AsQemuNbdHoldsIt()
    {
        MakeChain();
        using var img = NbdPeer.Img(Dir, "img", "top.qcow2", "-t", "-f", "qcow2");

        var result = Tools.QemuIo("-c", "write -P 1 0 4k", Dir["top.qcow2"]);

        Assert.That(result.Stderr, Does.Contain("Failed to get \"write\" lock"));
    }

    [Test]
    public void GarbageClient_IsDroppedAndOthersAreStillServed()
    {
        MakeChain();
        using var img = NbdPeer.Img(Dir, "img", "top.qcow2", "-t", "-e", "2", "-r", "-f", "qcow2");
        using (var bad = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            bad.Connect(new UnixDomainSocketEndPoint(img.Socket));
            var greeting = new byte[18];
            int got = 0;
            while (got < greeting.Length) got += bad.Receive(greeting, got, greeting.Length - got, SocketFlags.None);
            bad.Send(new byte[4]); // client flags
            bad.Send(System.Text.Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\n\r\nthis is not an option header at all"));
            bad.ReceiveTimeout = 5000;
            int answer;
            try
            {
                answer = bad.Receive(new byte[64]);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                answer = 0;
            }
            Assert.That(answer, Is.Zero, "the server hangs up on a bad option magic");
        }

        Tools.QemuImg("compare", "-f", "raw", "-F", "qcow2", img.Url, Dir["top.qcow2"]).Ok();
        Assert.That(img.HasExited, Is.False);
    }
}
