using System.Net;
using System.Net.Sockets;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests.Nbd;

/// <summary>
/// NBD over TLS (NBD_OPT_STARTTLS with x509 credentials) both ways: img reading qemu-nbd --tls-creds as qemu-img
/// does, and qemu-img and nbdinfo reading img nbd --tls-creds as they read qemu-nbd; refusals are one line.
/// </summary>
public class NbdTlsTests : QemuGoldenTestBase
{
    private string _good = "", _other = "";

    [SetUp]
    public void MakeCredentials()
    {
        _good = TestCertificates.Make(Dir["pki"]);
        _other = TestCertificates.Make(Dir["other-pki"]);
        Tools.QemuImg("create", "-f", "qcow2", Dir["a.qcow2"], "8M").Ok();
        Tools.QemuIo("-c", "write -P 0x5a 1M 1M", "-c", "write -z 3M 64k", "-c", "write -P 0x33 5M 192k", Dir["a.qcow2"]).Ok();
    }

    private NbdPeer QemuNbd() =>
        NbdPeer.QemuNbd(Dir, "q", Dir["a.qcow2"], "-t", "-r", "-f", "qcow2", "--object", TestCertificates.Object(_good, "server"), "--tls-creds", "tls0");

    private NbdPeer ImgNbd(params string[] extra) =>
        NbdPeer.Img(Dir, "i", Dir["a.qcow2"], ["-t", "-r", "-f", "qcow2", "--object", TestCertificates.Object(_good, "server"), "--tls-creds", "tls0", .. extra]);

    private string[] ClientArgs(string command, string pki, NbdPeer server, string extra = ",tls-hostname=localhost") =>
        [command, "--object", TestCertificates.Object(pki, "client"), "--image-opts",
            $"driver=nbd,server.type=unix,server.path={server.Socket},tls-creds=tls0{extra}"];

    [TestCase("good", ",tls-hostname=localhost")]
    [TestCase("good", ",tls-hostname=elsewhere")]
    [TestCase("good", "")]
    [TestCase("good", ",tls-creds=nope")]
    [TestCase("other", ",tls-hostname=localhost")]
    public void Info_OverQemuNbdWithTls_SameAsQemuImg(string pki, string extra)
    {
        Tools.Require("qemu-nbd");
        using var server = QemuNbd();

        Img.AssertSameAsQemu(Dir.Path, ClientArgs("info", pki == "good" ? _good : _other, server, extra));
    }

    [Test]
    public void PlainClient_OfTlsServers_RefusedAsByQemuNbd()
    {
        Tools.Require("qemu-nbd");
        using var server = QemuNbd();
        Img.AssertSameAsQemu(Dir.Path, ["info", server.Url]);

        using var img = ImgNbd();
        var fromImg = Tools.QemuImg("info", img.Url);
        var fromQemu = Tools.QemuImg("info", server.Url);
        Assert.That(fromImg.Stderr.Replace(img.Url, "URL", StringComparison.Ordinal),
            Is.EqualTo(fromQemu.Stderr.Replace(server.Url, "URL", StringComparison.Ordinal)));
        Assert.That(fromImg.ExitCode, Is.EqualTo(1));
    }

    [Test]
    public void JsonName_WithTlsCreds_OpensLikeImageOpts()
    {
        Tools.Require("qemu-nbd");
        using var server = QemuNbd();
        string json = $"json:{{\"driver\":\"nbd\",\"server\":{{\"type\":\"unix\",\"path\":\"{server.Socket}\"}},\"tls-creds\":\"tls0\",\"tls-hostname\":\"localhost\"}}";

        Img.AssertSameAsQemu(Dir.Path, ["info", "--object", TestCertificates.Object(_good, "client"), json]);
    }

    [Test]
    public void Convert_FromQemuNbdWithTls_CopiesTheData()
    {
        Tools.Require("qemu-nbd");
        using var server = QemuNbd();

        Img.Run(Dir.Path, ["convert", "-O", "qcow2", .. ClientArgs("", _good, server)[1..], "copy.qcow2"]).Ok();

        Tools.QemuImg("compare", "-F", "qcow2", Dir["copy.qcow2"], Dir["a.qcow2"]).Ok();
    }

    [Test]
    public void QemuImg_OfImgNbdWithTls_SameAsOfQemuNbd()
    {
        Tools.Require("qemu-nbd");
        using var qemu = QemuNbd();
        using var img = ImgNbd();

        foreach (var (pki, extra) in new[] { (_good, ",tls-hostname=localhost"), (_other, ",tls-hostname=localhost"), (_good, ",tls-hostname=elsewhere") })
        {
            var fromImg = Tools.Run("qemu-img", ClientArgs("map", pki, img, extra));
            var fromQemu = Tools.Run("qemu-img", ClientArgs("map", pki, qemu, extra));
            Assert.That((fromImg.Stdout + fromImg.Stderr).Replace(img.Socket, "SOCK", StringComparison.Ordinal),
                Is.EqualTo((fromQemu.Stdout + fromQemu.Stderr).Replace(qemu.Socket, "SOCK", StringComparison.Ordinal)));
            Assert.That(fromImg.ExitCode, Is.EqualTo(fromQemu.ExitCode));
        }
    }

    [TestCase("")]
    [TestCase("--map")]
    public void Nbdinfo_OverTlsOfImgNbd_SameAsOfQemuNbd(string option)
    {
        Tools.Require("nbdinfo");
        Tools.Require("qemu-nbd");
        using var qemu = QemuNbd();
        using var img = ImgNbd();
        string[] Args(NbdPeer peer) => [.. option.Length == 0 ? Array.Empty<string>() : [option],
            $"nbds+unix:///?socket={peer.Socket}&tls-certificates={_good}&tls-hostname=localhost"];

        var fromImg = Tools.Run("nbdinfo", Args(img)).Ok();
        var fromQemu = Tools.Run("nbdinfo", Args(qemu)).Ok();

        Assert.That(fromImg.Stdout.Replace(img.Socket, "SOCK", StringComparison.Ordinal),
            Is.EqualTo(fromQemu.Stdout.Replace(qemu.Socket, "SOCK", StringComparison.Ordinal)));
        if (option.Length == 0) Assert.That(fromImg.Stdout, Does.Contain("with TLS"));
    }

    [Test]
    public void Nbdcopy_OverTls_FromImgNbdOnTcp_CopiesTheImage()
    {
        Tools.Require("nbdcopy");
        int port = FreePort();
        using var img = NbdPeer.ImgOnTcp(Dir, "i", Dir["a.qcow2"], port, "-r", "-f", "qcow2", "--object", TestCertificates.Object(_good, "server"),
            "--tls-creds", "tls0");

        Tools.Run("nbdcopy", $"nbds://127.0.0.1:{port}?tls-certificates={_good}", Dir["copy.raw"]).Ok();

        Tools.QemuImg("compare", "-f", "raw", "-F", "qcow2", Dir["copy.raw"], Dir["a.qcow2"]).Ok();
    }

    [Test]
    public void ImgClient_OfImgNbd_OverTlsReadsAndRefusesWrongCredentialsInOneLine()
    {
        using var img = ImgNbd();

        var wrongCa = Img.Run(Dir.Path, ClientArgs("info", _other, img));
        var plain = Img.Run(Dir.Path, "info", img.Url);
        var serverCreds = Img.Run(Dir.Path, ["info", "--object", TestCertificates.Object(_good, "server"), "--image-opts",
            $"driver=nbd,server.type=unix,server.path={img.Socket},tls-creds=tls0,tls-hostname=localhost"]);
        Img.Run(Dir.Path, ["convert", "-O", "raw", .. ClientArgs("", _good, img)[1..], "copy.raw"]).Ok();
        Tools.QemuImg("compare", "-f", "raw", "-F", "qcow2", Dir["copy.raw"], Dir["a.qcow2"]).Ok();

        Assert.Multiple(() =>
        {
            Assert.That(wrongCa.Stderr, Does.StartWith("img: Could not open").And.EndWith("The certificate hasn't got a known issuer\n"));
            Assert.That(plain.Stderr, Does.StartWith("img: Could not open").And.Contain("TLS negotiation required before option 7 (go)"));
            Assert.That(serverCreds.Stderr, Does.EndWith("Expected TLS credentials for a client endpoint\n"));
            Assert.That(new[] { wrongCa.ExitCode, plain.ExitCode, serverCreds.ExitCode }, Is.All.EqualTo(1));
            Assert.That(img.HasExited, Is.False, "the server goes on serving after refused clients");
        });
    }

    [Test]
    public void TlsAuthz_LetsInOnlyTheNamedClient()
    {
        Tools.Require("nbdinfo");
        using (var allowed = ImgNbd("--object", "authz-simple,id=auth0,identity=CN=client,,O=Test", "--tls-authz", "auth0"))
            Tools.Run("nbdinfo", "--size", $"nbds+unix:///?socket={allowed.Socket}&tls-certificates={_good}&tls-hostname=localhost").Ok();
        using var denied = NbdPeer.Img(Dir, "d", Dir["a.qcow2"], "-t", "-r", "-f", "qcow2", "--object", TestCertificates.Object(_good, "server"),
            "--tls-creds", "tls0", "--object", "authz-simple,id=auth0,identity=CN=someone-else", "--tls-authz", "auth0");

        var result = Tools.Run("nbdinfo", "--size", $"nbds+unix:///?socket={denied.Socket}&tls-certificates={_good}&tls-hostname=localhost");

        Assert.That(result.ExitCode, Is.Not.Zero);
    }

    [Test]
    public void ServerOptions_WrongCredentials_QemuNbdsErrors()
    {
        var missing = Img.Run(Dir.Path, "nbd", "--tls-creds", "tls0", "-k", Dir["x.sock"], "a.qcow2");
        var client = Img.Run(Dir.Path, "nbd", "--object", TestCertificates.Object(_good, "client"), "--tls-creds", "tls0", "-k", Dir["x.sock"], "a.qcow2");
        var noDir = Img.Run(Dir.Path, "nbd", "--object", TestCertificates.Object(Dir["nope"], "server"), "--tls-creds", "tls0", "-k", Dir["x.sock"], "a.qcow2");

        Assert.Multiple(() =>
        {
            Assert.That(missing.Stderr, Is.EqualTo("img: Failed to get TLS creds: No TLS credentials with id 'tls0'\n"));
            Assert.That(client.Stderr, Is.EqualTo("img: Failed to get TLS creds: Expected TLS credentials for a server endpoint\n"));
            Assert.That(noDir.Stderr, Is.EqualTo($"img: Unable to access credentials {Dir["nope"]}/ca-cert.pem: No such file or directory\n"));
        });
    }

    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
