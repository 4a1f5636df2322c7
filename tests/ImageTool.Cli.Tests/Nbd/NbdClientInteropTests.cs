using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests.Nbd;

/// <summary>img as an NBD client of qemu-nbd and nbdkit: the same output as qemu-img reading the same export.</summary>
public class NbdClientInteropTests : QemuGoldenTestBase
{
    /// <summary>A qcow2 with data at 1 MiB and 5 MiB, a zero cluster at 3 MiB, served raw by qemu-nbd.</summary>
    private NbdPeer ServeQcow2(params string[] options)
    {
        Tools.Require("qemu-nbd");
        Tools.QemuImg("create", "-f", "qcow2", Dir["a.qcow2"], "8M").Ok();
        Tools.QemuIo("-c", "write -P 0x5a 1M 1M", "-c", "write -z 3M 64k", "-c", "write -P 0x33 5M 192k", Dir["a.qcow2"]).Ok();
        return NbdPeer.QemuNbd(Dir, "q", Dir["a.qcow2"], ["-t", "-f", "raw", .. options]);
    }

    [TestCase("info", "URL")]
    [TestCase("info", "--output=json", "URL")]
    [TestCase("info", "-f", "raw", "URL")]
    [TestCase("info", "--output=json", "-f", "raw", "URL")]
    [TestCase("info", "--output=json", "--image-opts", "driver=nbd,server.type=unix,server.path=SOCK")]
    [TestCase("info", "--image-opts", "driver=nbd,server.type=unix,server.path=SOCK")]
    [TestCase("info", "--image-opts", "driver=qcow2,file.driver=nbd,file.server.type=unix,file.server.path=SOCK")]
    [TestCase("map", "-f", "raw", "URL")]
    [TestCase("map", "-f", "raw", "--output=json", "URL")]
    [TestCase("map", "--output=json", "URL")]
    [TestCase("check", "URL")]
    [TestCase("compare", "URL", "a.qcow2")]
    [TestCase("compare", "-f", "raw", "-F", "qcow2", "URL", "a.qcow2")]
    [TestCase("info", "--image-opts", "driver=nbd,server.type=unix,server.path=SOCK,bogus=1")]
    [TestCase("info", "--image-opts", "driver=nbd,server.type=unix,server.path=SOCK,bogus.x=1,abc=2")]
    [TestCase("info", "--image-opts", "driver=nbd,server.type=unix,server.path=SOCK,server.bogus=1")]
    [TestCase("info", "--image-opts", "driver=nbd,server.type=unix,server.path=SOCK,server.port=1")]
    [TestCase("info", "--image-opts", "driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=1,bogus=1")]
    [TestCase("info", "--image-opts", "driver=qcow2,file.driver=nbd,file.server.type=unix,file.server.path=SOCK,file.zzz=1")]
    [TestCase("info", "--image-opts", "driver=nbd,server.type=unix,server.path=SOCK,server.tight=on,node-name=n0,read-only=on,reconnect-delay=1,open-timeout=2")]
    [TestCase("info", "json:{\"driver\":\"nbd\",\"server\":{\"type\":\"unix\",\"path\":\"SOCK\"},\"bogus\":1}")]
    [TestCase("info", "json:{\"driver\":\"nbd\",\"server\":{\"type\":\"unix\",\"path\":\"SOCK\",\"bogus\":1}}")]
    [TestCase("info", "nbd+unix:///nope?socket=SOCK")]
    [TestCase("info", "nbd+unix:///?socket=missing.sock")]
    [TestCase("info", "nbd://127.0.0.1:1/")]
    [TestCase("info", "nbd+unix:///x")]
    public void Command_OverQemuNbd_SameAsQemuImg(params string[] args)
    {
        using var server = ServeQcow2("-r");
        string[] actual = [.. args.Select(a => a.Replace("URL", server.Url, StringComparison.Ordinal).Replace("SOCK", server.Socket, StringComparison.Ordinal))];

        Img.AssertSameAsQemu(Dir.Path, actual);
    }

    [Test]
    public void Convert_FromQemuNbd_CopiesDataAndKeepsHolesAsQemuImgDoes()
    {
        using var server = ServeQcow2();

        Img.Run(Dir.Path, "convert", "-O", "qcow2", server.Url, "img.qcow2").Ok();
        Tools.QemuImg("convert", "-O", "qcow2", server.Url, Dir["qemu.qcow2"]).Ok();

        Tools.QemuImg("compare", Dir["img.qcow2"], Dir["qemu.qcow2"]).Ok();
        // base:allocation let convert skip the holes: the same clusters are allocated as in qemu-img's copy.
        Assert.That(Tools.QemuImg("map", "--output=json", Dir["img.qcow2"]).Stdout,
            Is.EqualTo(Tools.QemuImg("map", "--output=json", Dir["qemu.qcow2"]).Stdout));
    }

    [Test]
    public void ConvertAndDd_IntoNbdkitMemory_WritesWhatQemuImgReadsBack()
    {
        Tools.Require("nbdkit");
        Tools.QemuImg("create", "-f", "raw", Dir["src.raw"], "4M").Ok();
        Tools.QemuIo("-f", "raw", "-c", "write -P 0x77 512k 300k", Dir["src.raw"]).Ok();
        using var server = NbdPeer.Nbdkit(Dir, "k", "memory", "4M");

        Img.Run(Dir.Path, "convert", "-n", "-f", "raw", "-O", "raw", "src.raw", server.Url).Ok();

        Tools.QemuImg("compare", "-f", "raw", "-F", "raw", Dir["src.raw"], server.Url).Ok();
        Img.Run(Dir.Path, "dd", "-f", "raw", "-O", "raw", $"if={server.Url}", "of=back.raw", "bs=64k").Ok();
        Tools.QemuImg("compare", "-f", "raw", "-F", "raw", Dir["src.raw"], Dir["back.raw"]).Ok();
    }

    [Test]
    public void Convert_FromMultiConnServer_ReadsOverSeveralConnections()
    {
        Tools.Require("nbdkit");
        Tools.QemuImg("create", "-f", "raw", Dir["src.raw"], "64M").Ok();
        Tools.QemuIo("-f", "raw", "-c", "write -P 0x19 0 40M", "-c", "write -P 0x2a 50M 3M", Dir["src.raw"]).Ok();
        // nbdkit's file plugin offers multi-conn; its log filter names the connection of every request.
        using (var server = NbdPeer.Nbdkit(Dir, "k", "--filter=log", "file", Dir["src.raw"], $"logfile={Dir["k.log"]}"))
            Img.Run(Dir.Path, "convert", "-f", "raw", "-O", "raw", server.Url, "copy.raw").Ok();

        Tools.QemuImg("compare", "-f", "raw", "-F", "raw", Dir["src.raw"], Dir["copy.raw"]).Ok();
        var readers = System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(Dir["k.log"]), @"connection=(\d+) Read")
            .Select(m => m.Groups[1].Value).Distinct().Count();
        Assert.That(readers, Is.GreaterThan(1), "reads went over more than one connection");
    }

    [Test]
    public void Info_NbdkitFilePluginServingQcow2_ProbesQcow2()
    {
        Tools.Require("nbdkit");
        Tools.QemuImg("create", "-f", "qcow2", Dir["f.qcow2"], "3M").Ok();
        using var server = NbdPeer.Nbdkit(Dir, "k", "file", Dir["f.qcow2"]);

        Img.AssertSameAsQemu(Dir.Path, ["info", server.Url]);
    }

    [Test]
    public void Convert_ServerFailsEveryRead_OneImgLineAsQemuImg()
    {
        Tools.Require("nbdkit");
        using var server = NbdPeer.Nbdkit(Dir, "k", "--filter=error", "memory", "1M", "error=EIO", "error-pread-rate=1");

        Img.AssertSameAsQemu(Dir.Path, ["convert", "-O", "raw", server.Url, "out.raw"]);
    }

    [Test]
    public void Convert_ServerFailsLaterReads_ReportsTheFailingOffset()
    {
        Tools.Require("nbdkit");
        Tools.QemuImg("create", "-f", "raw", Dir["data.raw"], "8M").Ok();
        Tools.QemuIo("-f", "raw", "-c", "write -P 0x11 0 64k", "-c", "write -P 0x22 6M 64k", Dir["data.raw"]).Ok();
        using var server = NbdPeer.Nbdkit(Dir, "k", "--filter=error", "file", Dir["data.raw"], "error=EIO", "error-pread-rate=1", "error-pread-file=" + Dir["fail"]);
        File.WriteAllText(Dir["fail"], "");

        var result = Img.Run(Dir.Path, "convert", "-f", "raw", "-O", "raw", server.Url, "out.raw");

        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Stderr, Does.StartWith("img: error while reading at byte ").And.EndWith(": Input/output error\n"));
        Assert.That(result.Stderr.Count(c => c == '\n'), Is.EqualTo(1));
    }

    [Test]
    public void Info_ServerStopsAnswering_TimesOutWithOneLine()
    {
        Tools.Require("nbdkit");
        using var server = NbdPeer.Nbdkit(Dir, "k", "--filter=delay", "memory", "1M", "rdelay=30");
        var started = DateTime.UtcNow;

        var result = Img.RunWithEnvironment(Dir.Path, new Dictionary<string, string> { ["IMG_NBD_TIMEOUT"] = "1" }, "info", server.Url);

        Assert.That(DateTime.UtcNow - started, Is.LessThan(TimeSpan.FromSeconds(15)));
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Stderr, Is.EqualTo($"img: Could not open '{server.Url}': Could not read image for determining its format: The NBD server did not answer within 1 s\n"));
    }
}
