using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>Garbage and truncated files: one "img:" line, non-zero exit, never a stack trace.</summary>
public class BadInputTests
{
    [TestCase("info")]
    [TestCase("check")]
    [TestCase("convert")]
    public void GarbageFile_AnyCommand_NoStackTrace(string command)
    {
        using var dir = new TempDir();
        var random = new Random(5);
        for (int i = 0; i < 20; i++)
        {
            var bytes = new byte[random.Next(0, 4096)];
            random.NextBytes(bytes);
            File.WriteAllBytes(dir["g.img"], bytes);
            var args = command == "convert" ? new[] { command, "g.img", "out.raw" } : new[] { command, "g.img" };
            var r = Img.Run(dir.Path, args);
            Assert.That(r.Stderr, Does.Not.Contain("   at "), r.Stderr);
            if (r.ExitCode != 0)
                Assert.That(r.Stderr, Does.StartWith("img: "));
        }
    }

    [Test]
    public void UnhandledError_PrintsOneLine_UnlessDebug()
    {
        using var dir = new TempDir();
        var r = Img.Run(dir.Path, "convert", "-O", "raw", dir["missing"], dir["out"]);
        Assert.That(r.ExitCode, Is.EqualTo(1));
        Assert.That(r.Stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
    }
}
