using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>resize and commit that grow an image over a longer backing file: same output and exit code as qemu-img.</summary>
[Category("Qemu")]
public class GrowOverBackingGoldenTests : QemuGoldenTestBase
{
    private void Prepare()
    {
        foreach (var f in Directory.GetFiles(Dir.Path)) File.Delete(f);
        void Run(string tool, params string[] args) => Tools.RunIn(Dir.Path, tool, args).Ok();
        Run("qemu-img", "create", "-q", "-f", "raw", "long.raw", "4M");
        Run("qemu-io", "-f", "raw", "-c", "write -P 0xaa 0 4M", "long.raw");
        Run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "long.raw", "-F", "raw", "v3.qcow2", "1M");
        Run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-b", "long.raw", "-F", "raw", "v2.qcow2", "1M");
        foreach (string format in new[] { "raw", "vmdk" })
        {
            Run("qemu-img", "create", "-q", "-f", format, $"short.{format}", "1M");
            Run("qemu-img", "create", "-q", "-f", "qcow2", "-b", $"short.{format}", "-F", format, $"top-{format}.qcow2", "4M");
            Run("qemu-io", "-c", "write -P 0x11 3M 64k", $"top-{format}.qcow2");
        }
        Run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "v2.qcow2", "-F", "qcow2", "top-v2.qcow2", "4M");
    }

    [TestCase("resize v3.qcow2 4M")]
    [TestCase("resize v2.qcow2 4M")]
    [TestCase("resize v2.qcow2 1M")]
    [TestCase("commit top-raw.qcow2")]
    [TestCase("commit top-vmdk.qcow2")]
    [TestCase("commit top-v2.qcow2")]
    [TestCase("map --output=json v3.qcow2")]
    public void Command_MatchesQemuImg(string commandLine)
    {
        Img.AssertSameAsQemu(Dir.Path, commandLine.Split(' '), Prepare);
    }

    [TestCase("resize", "v3.qcow2", "4M")]
    [TestCase("commit", "top-raw.qcow2")]
    public void Result_MapsLikeQemu(params string[] args)
    {
        string Outcome()
        {
            string files = "";
            foreach (var name in new[] { "v3.qcow2", "short.raw", "top-raw.qcow2" })
            {
                string format = name.EndsWith(".raw", StringComparison.Ordinal) ? "raw" : "qcow2";
                files += Tools.RunIn(Dir.Path, "qemu-img", "map", "-f", format, "--output=json", name).Ok().Stdout;
                if (format == "qcow2") Tools.RunIn(Dir.Path, "qemu-img", "check", name).Ok();
            }
            return files;
        }
        Prepare();
        Tools.RunIn(Dir.Path, "qemu-img", args).Ok();
        string qemu = Outcome();
        Prepare();
        Img.Run(Dir.Path, args).Ok();
        Assert.That(Outcome(), Is.EqualTo(qemu));
    }
}
