using ImageTool.Operations;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Operations;

/// <summary>img commit and qemu-img commit on identical chains must leave identical images.</summary>
public class CommitOperationTests
{
    private static void MakeChain(TempDir dir, string tag, string baseFormat)
    {
        string baseName = $"b-{tag}.{baseFormat}";
        Tools.QemuImg("create", "-q", "-f", baseFormat, dir[baseName], "4M").Ok();
        Tools.QemuIo("-f", baseFormat, "-c", "write -P 9 0 4M", dir[baseName]).Ok();
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-b", baseName, "-F", baseFormat, dir[$"m-{tag}.qcow2"]).Ok();
        Tools.QemuIo("-c", "write -P 1 64k 100k", "-c", "write -z 1M 64k", dir[$"m-{tag}.qcow2"]).Ok();
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-b", $"m-{tag}.qcow2", "-F", "qcow2", dir[$"t-{tag}.qcow2"]).Ok();
        Tools.QemuIo("-c", "write -P 2 100k 8k", "-c", "write -z 2M 128k", "-c", "write -P 3 3M 1k", dir[$"t-{tag}.qcow2"]).Ok();
    }

    [TestCase("raw", false, false)]
    [TestCase("qcow2", false, false)]
    [TestCase("qcow2", true, false)]
    [TestCase("raw", false, true)]
    public void Commit_SameResultAsQemu(string baseFormat, bool drop, bool intoDeepBase)
    {
        using var dir = new TempDir();
        MakeChain(dir, "img", baseFormat);
        MakeChain(dir, "q", baseFormat);
        string[] qemuArgs = ["commit", "-q", .. drop ? new[] { "-d" } : [], .. intoDeepBase ? new[] { "-b", dir[$"b-q.{baseFormat}"] } : [], dir["t-q.qcow2"]];
        Tools.QemuImg(qemuArgs).Ok();
        CommitOperation.Run(dir["t-img.qcow2"], new CommitOptions { Drop = drop, Base = intoDeepBase ? dir[$"b-img.{baseFormat}"] : null });
        foreach (var (name, format) in new[] { ("b", baseFormat), ("m", "qcow2"), ("t", "qcow2") })
        {
            string mine = dir[$"{name}-img.{format}"], theirs = dir[$"{name}-q.{format}"];
            Tools.QemuImg("compare", "-f", format, "-F", format, mine, theirs).Ok();
            if (format == "qcow2")
            {
                Tools.QemuImg("check", mine).Ok();
                Assert.That(Tools.QemuImg("map", "--output=json", mine).Ok().Stdout.Replace("-img.", "-q.", StringComparison.Ordinal),
                    Is.EqualTo(Tools.QemuImg("map", "--output=json", theirs).Ok().Stdout), name);
            }
        }
        Assert.That(new FileInfo(dir["t-img.qcow2"]).Length, Is.EqualTo(new FileInfo(dir["t-q.qcow2"]).Length));
    }

    [Test]
    public void Commit_NoBackingFile_Fails()
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-q", "-f", "qcow2", dir["a.qcow2"], "1M").Ok();
        var e = Assert.Throws<ImageFormatException>(() => CommitOperation.Run(dir["a.qcow2"], new CommitOptions()));
        Assert.That(e!.Message, Is.EqualTo("Image does not have a backing file"));
    }
}
