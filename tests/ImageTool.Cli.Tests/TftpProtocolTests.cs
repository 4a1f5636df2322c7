using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// tftp:// sources (qemu 7.2 has no tftp driver, so the reference is qemu-img on the served files) against
/// Debian's tftpd-hpa, started by the test on a loopback port.
/// </summary>
[Category("Qemu")]
public class TftpProtocolTests
{
    private TempDir _dir = null!;
    private Process? _server;
    private string _url = null!;

    [SetUp]
    public void SetUp()
    {
        Tools.Require("qemu-img");
        string tftpd = File.Exists("/usr/sbin/in.tftpd") ? "/usr/sbin/in.tftpd" : Tools.Require("in.tftpd");
        _dir = new TempDir();
        Directory.CreateDirectory(_dir["srv"]);
        Tools.QemuImg("create", "-f", "qcow2", _dir["srv/x.qcow2"], "64M").Ok();
        Tools.QemuIo("-c", "write -P 0x5a 1M 3M", "-c", "write -P 0x33 40M 64k", _dir["srv/x.qcow2"]).Ok();
        SeededData.WriteRaw(_dir["srv/x.raw"], 3 << 20, 4, (0, 70_000), (2 << 20, 300_000));

        int port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }
        var psi = new ProcessStartInfo(tftpd) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-L", "-s", _dir["srv"], "-a", $"127.0.0.1:{port}", "-u", Environment.UserName }) psi.ArgumentList.Add(a);
        _server = Process.Start(psi)!;
        Thread.Sleep(300);
        if (_server.HasExited)
        {
            string why = _server.StandardError.ReadToEnd();
            if (Tools.InCi) Assert.Fail($"in.tftpd did not start: {why}");
            Assert.Ignore($"in.tftpd did not start: {why}");
        }
        _url = $"tftp://127.0.0.1:{port}";
    }

    [TearDown]
    public void TearDown()
    {
        if (_server is { HasExited: false }) _server.Kill();
        _server?.Dispose();
        _dir.Dispose();
    }

    [TestCase("x.qcow2")]
    [TestCase("x.raw")]
    public void ConvertToRaw_SameBytesAsQemuImgOfTheServedFile(string served)
    {
        Img.Run(_dir.Path, "convert", "-O", "raw", $"{_url}/{served}", "img.raw").Ok();
        // A copy: qemu-img's lock probe can collide with the server still holding the served file.
        File.Copy(_dir["srv/" + served], _dir["reference"]);
        Tools.QemuImg("convert", "-f", served.EndsWith(".raw", StringComparison.Ordinal) ? "raw" : "qcow2", "-O", "raw", _dir["reference"], _dir["qemu.raw"]).Ok();
        Assert.That(File.ReadAllBytes(_dir["img.raw"]), Is.EqualTo(File.ReadAllBytes(_dir["qemu.raw"])));
    }

    [TestCase("x.qcow2")]
    [TestCase("x.raw")]
    public void Info_SameAsQemuImgOfTheServedFile_ApartFromNameAndDiskSize(string served)
    {
        var img = Img.Run(_dir.Path, "info", $"{_url}/{served}");
        var qemu = Tools.QemuImg("info", "-U", _dir["srv/" + served]);
        static string Body(string s) => string.Join('\n', s.Split('\n').Where(l => !l.StartsWith("image:", StringComparison.Ordinal) && !l.StartsWith("disk size:", StringComparison.Ordinal)));
        Assert.Multiple(() =>
        {
            Assert.That(img.ExitCode, Is.Zero, img.Stderr);
            Assert.That(img.Stdout, Does.StartWith($"image: {_url}/{served}\n"));
            Assert.That(img.Stdout, Does.Contain("disk size: unavailable\n"));
            Assert.That(Body(img.Stdout), Is.EqualTo(Body(qemu.Stdout)));
        });
    }

    [Test]
    public void MissingFile_CurlsTftpError_NothingWritten()
    {
        var img = Img.Run(_dir.Path, "convert", "-O", "raw", $"{_url}/missing.raw", "out.raw");
        Assert.Multiple(() =>
        {
            Assert.That(img.ExitCode, Is.EqualTo(1));
            Assert.That(img.Stderr, Is.EqualTo($"img: Could not open '{_url}/missing.raw': CURL: Error opening file: TFTP: File Not Found\n"));
            Assert.That(File.Exists(_dir["out.raw"]), Is.False);
        });
    }

    [Test]
    public void NoServer_TimesOut_NothingWritten()
    {
        _server!.Kill();
        _server.WaitForExit();
        var clock = Stopwatch.StartNew();
        var img = Img.Run(_dir.Path, "convert", "-O", "raw", $"{_url}/x.raw", "out.raw");
        Assert.Multiple(() =>
        {
            Assert.That(img.ExitCode, Is.EqualTo(1));
            Assert.That(img.Stderr, Does.StartWith($"img: Could not open '{_url}/x.raw': CURL: Error opening file: "));
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(60)));
            Assert.That(File.Exists(_dir["out.raw"]), Is.False);
        });
    }
}
