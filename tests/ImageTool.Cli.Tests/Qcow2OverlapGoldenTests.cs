using System.Buffers.Binary;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>Commands writing into an image whose L2 entry points at its L1 table: qemu-img's warning, error and exit code.</summary>
[Category("Qemu")]
public class Qcow2OverlapGoldenTests : QemuGoldenTestBase
{
    private void Prepare()
    {
        foreach (var f in Directory.GetFiles(Dir.Path)) File.Delete(f);
        void Run(string tool, params string[] args) => Tools.RunIn(Dir.Path, tool, args).Ok();
        Run("qemu-img", "create", "-q", "-f", "qcow2", "bad.qcow2", "1M");
        Run("qemu-io", "-c", "write -P 1 0 64k", "bad.qcow2");
        using (var fs = new FileStream(Dir["bad.qcow2"], FileMode.Open))
        {
            var entry = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(entry, 0x30000UL | 1UL << 63); // guest cluster 0 -> the L1 table
            fs.Position = 0x40000;
            fs.Write(entry);
        }
        Run("qemu-img", "create", "-q", "-f", "raw", "src.raw", "1M");
        Run("qemu-io", "-f", "raw", "-c", "write -P 5 0 1M", "src.raw");
        Run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "bad.qcow2", "-F", "qcow2", "top.qcow2");
        Run("qemu-io", "-c", "write -P 7 0 64k", "top.qcow2");
    }

    [TestCase("bench -w -c 2 -s 4k bad.qcow2")]
    [TestCase("convert -n -O qcow2 src.raw bad.qcow2")]
    [TestCase("commit top.qcow2")]
    public void Command_MatchesQemuImg(string commandLine)
    {
        Img.AssertSameAsQemu(Dir.Path, commandLine.Split(' '), Prepare);
        Assert.That(Tools.RunIn(Dir.Path, "qemu-img", "info", "bad.qcow2").Ok().Stdout, Does.Contain("corrupt: true"));
    }
}
