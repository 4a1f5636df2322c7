using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// http/https images (qemu's curl driver) served by a lighttpd the test starts on loopback (https with a
/// self-signed certificate made by openssl at set-up), read by img and qemu-img side by side; and servers that
/// misbehave, which must end in one clear error within the timeout.
/// </summary>
[Category("Qemu")]
[NonParallelizable]
public class HttpProtocolTests
{
    private TempDir _dir = null!;
    private Process? _server;
    private string _http = "";
    private string _https = "";

    [OneTimeSetUp]
    public void StartServer()
    {
        _dir = new TempDir();
        Tools.Require("qemu-img");
        string lighttpd = new[] { "/usr/sbin/lighttpd", "/usr/bin/lighttpd" }.FirstOrDefault(File.Exists) ?? "";
        if (lighttpd.Length == 0)
        {
            if (Tools.InCi) Assert.Fail("lighttpd is required under CI=true (.ci/run installs it)");
            Assert.Ignore("lighttpd is not installed");
        }
        Tools.Require("openssl");
        string www = Directory.CreateDirectory(_dir["www"]).FullName;
        var data = new byte[3_000_000];
        new Random(42).NextBytes(data);
        using (var f = File.Create(Path.Combine(www, "x.raw")))
        {
            f.SetLength(32 << 20);
            f.Position = 1000;
            f.Write(data);
            f.Position = 20 << 20;
            f.Write(data);
        }
        Tools.QemuImg("convert", "-f", "raw", "-O", "qcow2", Path.Combine(www, "x.raw"), Path.Combine(www, "x.qcow2")).Ok();
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-b", "x.qcow2", "-F", "qcow2", Path.Combine(www, "ov.qcow2")).Ok();
        Tools.QemuIo("-c", "write -P 0x5a 5M 1M", Path.Combine(www, "ov.qcow2")).Ok();
        Tools.Run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", _dir["key.pem"], "-out", _dir["cert.pem"],
            "-days", "1", "-subj", "/CN=127.0.0.1").Ok();
        File.WriteAllText(_dir["server.pem"], File.ReadAllText(_dir["key.pem"]) + File.ReadAllText(_dir["cert.pem"]));
        int httpPort = FreePort(), httpsPort = FreePort();
        File.WriteAllText(_dir["lighttpd.conf"],
            $"server.document-root = \"{www}\"\nserver.bind = \"127.0.0.1\"\nserver.port = {httpPort}\n" +
            "server.modules = (\"mod_openssl\")\n" +
            $"$SERVER[\"socket\"] == \"127.0.0.1:{httpsPort}\" {{ ssl.engine = \"enable\" ssl.pemfile = \"{_dir["server.pem"]}\" }}\n");
        _server = Process.Start(new ProcessStartInfo(lighttpd, ["-D", "-f", _dir["lighttpd.conf"]])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        _http = $"http://127.0.0.1:{httpPort}";
        _https = $"https://127.0.0.1:{httpsPort}";
        WaitForPort(httpPort);
        WaitForPort(httpsPort);
    }

    [OneTimeTearDown]
    public void StopServer()
    {
        if (_server is { HasExited: false })
        {
            _server.Kill();
            _server.WaitForExit(10_000);
        }
        _server?.Dispose();
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

    private void WaitForPort(int port)
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
        Assert.Fail($"lighttpd did not listen on {port}: {_server?.StandardError.ReadToEnd()}");
    }

    private string[] Args(string command) =>
        command.Replace("HTTPS", _https, StringComparison.Ordinal).Replace("HTTP", _http, StringComparison.Ordinal).Split(' ');

    /// <summary>
    /// Same stdout, exit code and message as qemu-img; qemu 7.2's curl error paths add GLib assertion noise
    /// ("qemu-img: GLib: g_hash_table_...") to stderr, which is left out of the comparison.
    /// </summary>
    private void AssertSameAsQemu(string[] args)
    {
        var qemu = Tools.RunIn(_dir.Path, "qemu-img", args);
        var img = Img.Run(_dir.Path, args);
        string qemuErr = string.Concat(qemu.Stderr.Split('\n').Where(l => l.Length > 0 && !l.StartsWith("qemu-img: GLib:", StringComparison.Ordinal))
            .Select(l => l.Replace("qemu-img", "img", StringComparison.Ordinal) + "\n"));
        Assert.Multiple(() =>
        {
            Assert.That(img.Stdout, Is.EqualTo(qemu.Stdout.Replace("qemu-img", "img", StringComparison.Ordinal)), "stdout");
            Assert.That(img.Stderr, Is.EqualTo(qemuErr), "stderr");
            Assert.That(img.ExitCode, Is.EqualTo(qemu.ExitCode), "exit code");
        });
    }

    [TestCase("info HTTP/x.qcow2")]
    [TestCase("info --output=json HTTP/x.qcow2")]
    [TestCase("info HTTP/ov.qcow2")]
    [TestCase("info --backing-chain HTTP/ov.qcow2")]
    [TestCase("info -f http HTTP/x.raw")]
    [TestCase("info -f raw HTTP/x.raw")]
    [TestCase("info --image-opts driver=http,url=HTTP/x.qcow2")]
    [TestCase("info --image-opts driver=http,url=HTTP/x.raw,bogus=1")]
    [TestCase("info --image-opts driver=http,url=HTTP/x.raw,readahead=1000")]
    [TestCase("info --image-opts driver=https,url=HTTP/x.raw")]
    [TestCase("info --image-opts driver=http")]
    [TestCase("info HTTP/missing.qcow2")]
    [TestCase("info HTTPS/x.qcow2")]
    [TestCase("map HTTP/x.raw")]
    [TestCase("map --output=json HTTP/ov.qcow2")]
    [TestCase("check HTTP/x.qcow2")]
    [TestCase("compare HTTP/ov.qcow2 HTTP/x.raw")]
    [TestCase("compare HTTP/x.qcow2 HTTP/x.raw")]
    [TestCase("convert -n -O raw www/x.raw HTTP/x.raw")]
    [TestCase("create -f http HTTP/new.raw 1M")]
    public void Command_SameAsQemuImg(string command) => AssertSameAsQemu(Args(command));

    // qemu-img 7.2's curl driver hangs in convert on this machine (2 of 3 runs of a 32 MiB qcow2 over http from
    // lighttpd stall for good, more often with a backing file over http too), so the reference for converts is
    // qemu-img's convert of the same files on disk; info, map, check and compare above do run over http.
    [TestCase("HTTP/x.qcow2", "x.qcow2")]
    [TestCase("HTTP/x.raw", "x.raw")]
    [TestCase("HTTP/ov.qcow2", "ov.qcow2")]
    [TestCase("--image-opts driver=http,url=HTTP/x.raw,readahead=64k,timeout=10,cookie=a=b", "x.raw")]
    [TestCase("--image-opts driver=qcow2,file.driver=https,file.url=HTTPS/x.qcow2,file.sslverify=off", "x.qcow2")]
    public void ConvertToRaw_FromUrl_SameBytesAsQemuImgOfTheServedFile(string source, string served)
    {
        Img.Run(_dir.Path, ["convert", "-O", "raw", .. Args(source), "img.raw"]).Ok();
        Tools.QemuImg("convert", "-O", "raw", _dir["www/" + served], _dir["qemu.raw"]).Ok();
        Assert.That(File.ReadAllBytes(_dir["img.raw"]), Is.EqualTo(File.ReadAllBytes(_dir["qemu.raw"])));
    }

    [Test]
    public void LocalOverlay_OverRemoteBase_ReadsThroughToTheUrl()
    {
        File.Delete(_dir["local.qcow2"]);
        Img.Run(_dir.Path, ["create", "-f", "qcow2", "-b", $"{_http}/x.qcow2", "-F", "qcow2", "local.qcow2"]).Ok();
        Tools.QemuIo("-c", "write -P 0x33 0 64k", _dir["local.qcow2"]).Ok();
        AssertSameAsQemu(["info", "local.qcow2"]);
        Img.Run(_dir.Path, "convert", "-O", "raw", "local.qcow2", "img.raw").Ok();
        Tools.QemuImg("rebase", "-u", "-b", _dir["www/x.qcow2"], "-F", "qcow2", _dir["local.qcow2"]).Ok();
        Tools.QemuImg("convert", "-O", "raw", _dir["local.qcow2"], _dir["qemu.raw"]).Ok();
        Assert.That(File.ReadAllBytes(_dir["img.raw"]), Is.EqualTo(File.ReadAllBytes(_dir["qemu.raw"])));
    }

    [TestCase(MisbehavingHttpServer.Mode.NoRanges, "info", "CURL: Error opening file: Server does not support 'range' (byte ranges).")]
    [TestCase(MisbehavingHttpServer.Mode.RedirectLoop, "info", "CURL: Error opening file: Maximum (10) redirects followed")]
    [TestCase(MisbehavingHttpServer.Mode.Stall, "convert", "Operation timed out after")]
    [TestCase(MisbehavingHttpServer.Mode.ShortBody, "convert", "Operation timed out after")]
    [TestCase(MisbehavingHttpServer.Mode.Garbage, "convert", "CURL:")]
    [TestCase(MisbehavingHttpServer.Mode.IgnoreRange, "convert", "Server ignored the byte range")]
    [TestCase(MisbehavingHttpServer.Mode.DropMidBody, "convert", "CURL:")]
    public void BadServer_OneClearErrorWithinTheTimeout(MisbehavingHttpServer.Mode mode, string command, string expected)
    {
        using var server = new MisbehavingHttpServer(mode);
        string source = $"driver=raw,file.driver=http,file.url={server.Url},file.timeout=2";
        var clock = Stopwatch.StartNew();
        var result = command == "info"
            ? Img.Run(_dir.Path, "info", server.Url)
            : Img.Run(_dir.Path, "convert", "-O", "raw", "--image-opts", source, "bad.raw");
        Assert.Multiple(() =>
        {
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(30)));
            Assert.That(result.ExitCode, Is.EqualTo(1));
            Assert.That(result.Stderr, Does.StartWith("img: ").And.Contain(expected));
            Assert.That(result.Stderr.TrimEnd('\n'), Does.Not.Contain("\n"), "one line");
        });
    }
}
