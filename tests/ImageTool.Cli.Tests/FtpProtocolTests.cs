using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// ftp and ftps (implicit TLS) images served by vsftpd instances the test starts on loopback, read by img and
/// (ftp) qemu-img side by side.
/// </summary>
[Category("Qemu")]
[NonParallelizable]
public class FtpProtocolTests
{
    private TempDir _dir = null!;
    private readonly List<Process> _servers = [];
    private string _ftp = "";
    private string _ftps = "";

    [OneTimeSetUp]
    public void StartServers()
    {
        _dir = new TempDir();
        Tools.Require("qemu-img");
        string vsftpd = new[] { "/usr/sbin/vsftpd", "/usr/bin/vsftpd" }.FirstOrDefault(File.Exists) ?? "";
        if (vsftpd.Length == 0)
        {
            if (Tools.InCi) Assert.Fail("vsftpd is required under CI=true (.ci/run installs it)");
            Assert.Ignore("vsftpd is not installed");
        }
        Tools.Require("openssl");
        string root = Directory.CreateDirectory(_dir["root"]).FullName;
        Directory.CreateDirectory(_dir["empty"]);
        var data = new byte[2_000_000];
        new Random(9).NextBytes(data);
        using (var f = File.Create(Path.Combine(root, "x.raw")))
        {
            f.SetLength(16 << 20);
            f.Position = 777;
            f.Write(data);
        }
        Tools.QemuImg("convert", "-f", "raw", "-O", "qcow2", Path.Combine(root, "x.raw"), Path.Combine(root, "x.qcow2")).Ok();
        Tools.Run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", _dir["key.pem"], "-out", _dir["cert.pem"],
            "-days", "1", "-subj", "/CN=127.0.0.1").Ok();
        File.WriteAllText(_dir["server.pem"], File.ReadAllText(_dir["key.pem"]) + File.ReadAllText(_dir["cert.pem"]));
        int ftpPort = FreePort(), ftpsPort = FreePort();
        string common = $"listen=YES\nlisten_address=127.0.0.1\nanonymous_enable=YES\nlocal_enable=NO\nwrite_enable=NO\n" +
            $"anon_root={root}\nno_anon_password=YES\npasv_enable=YES\npasv_address=127.0.0.1\nbackground=NO\n" +
            $"secure_chroot_dir={_dir["empty"]}\nrun_as_launching_user=YES\nseccomp_sandbox=NO\n";
        File.WriteAllText(_dir["ftp.conf"], common + $"listen_port={ftpPort}\n");
        File.WriteAllText(_dir["ftps.conf"], common + $"listen_port={ftpsPort}\nssl_enable=YES\nimplicit_ssl=YES\nallow_anon_ssl=YES\n" +
            $"force_anon_logins_ssl=YES\nforce_anon_data_ssl=YES\nrsa_cert_file={_dir["server.pem"]}\nrequire_ssl_reuse=NO\n");
        foreach (var conf in new[] { "ftp.conf", "ftps.conf" })
            _servers.Add(Process.Start(new ProcessStartInfo(vsftpd, [_dir[conf]]) { RedirectStandardError = true, RedirectStandardOutput = true })!);
        _ftp = $"ftp://127.0.0.1:{ftpPort}";
        _ftps = $"ftps://127.0.0.1:{ftpsPort}";
        WaitForPort(ftpPort);
        WaitForPort(ftpsPort);
    }

    [OneTimeTearDown]
    public void StopServers()
    {
        foreach (var server in _servers)
        {
            if (!server.HasExited)
            {
                server.Kill();
                server.WaitForExit(10_000);
            }
            server.Dispose();
        }
        _dir?.Dispose();
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static void WaitForPort(int port)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) { Thread.Sleep(100); }
        }
        Assert.Fail($"vsftpd did not listen on {port}");
    }

    private string[] Args(string command) =>
        command.Replace("FTPS", _ftps, StringComparison.Ordinal).Replace("FTP", _ftp, StringComparison.Ordinal).Split(' ');

    [TestCase("info FTP/x.qcow2")]
    [TestCase("info FTP/x.raw")]
    [TestCase("info -f ftp FTP/x.raw")]
    [TestCase("info FTP/missing.qcow2")]
    [TestCase("map --output=json FTP/x.qcow2")]
    [TestCase("check FTP/x.qcow2")]
    public void Command_SameAsQemuImg(string command) => Img.AssertSameAsQemu(_dir.Path, Args(command));

    // As over http, qemu-img's convert of the served file on disk is the reference (its curl reads can stall).
    [TestCase("FTP/x.qcow2", "x.qcow2")]
    [TestCase("FTP/x.raw", "x.raw")]
    public void ConvertToRaw_FromFtp_SameBytesAsQemuImgOfTheServedFile(string source, string served)
    {
        Img.Run(_dir.Path, ["convert", "-O", "raw", .. Args(source), "img.raw"]).Ok();
        Tools.QemuImg("convert", "-O", "raw", _dir["root/" + served], _dir["qemu.raw"]).Ok();
        Assert.That(File.ReadAllBytes(_dir["img.raw"]), Is.EqualTo(File.ReadAllBytes(_dir["qemu.raw"])));
    }

    // qemu-img 7.2's curl reads over implicit-TLS ftps from vsftpd time out here, so the reference is the file itself.
    [Test]
    public void ConvertToRaw_FromFtps_SameBytesAsTheServedFile()
    {
        Img.Run(_dir.Path, ["convert", "-O", "raw", "--image-opts",
            $"driver=qcow2,file.driver=ftps,file.url={_ftps}/x.qcow2,file.sslverify=off", "img.raw"]).Ok();
        Assert.That(File.ReadAllBytes(_dir["img.raw"]), Is.EqualTo(File.ReadAllBytes(_dir["root/x.raw"])));
        var refused = Img.Run(_dir.Path, "info", $"{_ftps}/x.qcow2");
        Assert.That(refused.Stderr, Does.Contain("CURL: Error opening file: server certificate verification failed"));
    }
}
