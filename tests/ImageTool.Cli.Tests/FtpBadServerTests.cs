using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// ftp servers that misbehave (<see cref="MisbehavingFtpServer"/>): each ends in one clear `img:` line and a
/// non-zero exit, within the driver's timeout; a server that fails the open leaves no target behind.
/// </summary>
[NonParallelizable]
public class FtpBadServerTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [TestCase(MisbehavingFtpServer.Mode.Garbage, "CURL: Error opening file: Weird server reply")]
    [TestCase(MisbehavingFtpServer.Mode.NoSize, "CURL: Error opening file: Server didn't report file size.")]
    public void OpenFails_OneClearError_NoTarget(MisbehavingFtpServer.Mode mode, string expected)
    {
        using var server = new MisbehavingFtpServer(mode);
        var result = Img.Run(_dir.Path, "convert", "-O", "raw", "--image-opts", Source(server), "bad.raw");
        AssertOneClearError(result, expected);
        Assert.That(File.Exists(_dir["bad.raw"]), Is.False, "a target was created");
        AssertOneClearError(Img.Run(_dir.Path, "info", server.Url), expected);
    }

    [TestCase(MisbehavingFtpServer.Mode.NoRest, "REST 0: unexpected reply 502")]
    [TestCase(MisbehavingFtpServer.Mode.LyingSize, "Transferred a partial file")]
    [TestCase(MisbehavingFtpServer.Mode.DropMidTransfer, "CURL:")]
    [TestCase(MisbehavingFtpServer.Mode.Stall, "Operation timed out after")]
    public void ReadFails_OneClearError(MisbehavingFtpServer.Mode mode, string expected)
    {
        using var server = new MisbehavingFtpServer(mode);
        AssertOneClearError(Img.Run(_dir.Path, "convert", "-O", "raw", "--image-opts", Source(server), "bad.raw"), expected);
    }

    // A short timeout keeps the stalled case quick (the driver's default is 5 s).
    private static string Source(MisbehavingFtpServer server) => $"driver=raw,file.driver=ftp,file.url={server.Url},file.timeout=2";

    private static void AssertOneClearError(Tools.Result result, string expected) =>
        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(1));
            Assert.That(result.Stderr, Does.StartWith("img: ").And.Contain(expected));
            Assert.That(result.Stderr.TrimEnd('\n'), Does.Not.Contain("\n"), "one line");
        });
}
