using ImageTool.Tests.Support;
using Mode = ImageTool.Cli.Tests.Nbd.MisbehavingNbdServer.Mode;

namespace ImageTool.Cli.Tests.Nbd;

/// <summary>
/// img's NBD client against a server that breaks the protocol or stops answering: one clear img: line and a
/// failed exit within the client's timeout, never a hang, and no copy claimed done. Replies that are merely
/// unusual but legal (chunks out of order) are taken.
/// </summary>
public class NbdMisbehavingServerTests : QemuGoldenTestBase
{
    // Short, so a mistake that waits on the server shows as a timeout message rather than a slow test.
    private static readonly Dictionary<string, string> Timeout = new() { ["IMG_NBD_TIMEOUT"] = "2" };

    [TestCase(Mode.Stall, "error while reading block status at offset 0: The NBD server did not answer within 2 s")]
    [TestCase(Mode.WrongCookie, "error while reading at byte 0: NBD protocol error: Reply for unexpected request")]
    [TestCase(Mode.HugeReadChunk, "error while reading at byte 0: NBD protocol error: Reply chunk of 4294967280 bytes is too long")]
    [TestCase(Mode.HugeStatusChunk, "error while reading block status at offset 0: NBD protocol error: Reply chunk of 4294967280 bytes is too long")]
    [TestCase(Mode.CloseMidReply, "error while reading at byte 0: Connection closed by the NBD server")]
    public void Convert_BadReplies_OneImgLineAndFailure(Mode mode, string expected)
    {
        using var server = new MisbehavingNbdServer(mode);

        var result = Img.RunWithEnvironment(Dir.Path, Timeout, "convert", "-f", "raw", "-O", "raw", server.Url, "out.raw");

        AssertOneErrorLine(result, expected);
    }

    [TestCase("info")]
    [TestCase("convert")]
    public void WrongOptionInReply_HandshakeFailsWithOneLine(string command)
    {
        using var server = new MisbehavingNbdServer(Mode.WrongOptionReply);

        var result = command == "info"
            ? Img.RunWithEnvironment(Dir.Path, Timeout, "info", server.Url)
            : Img.RunWithEnvironment(Dir.Path, Timeout, "convert", "-f", "raw", "-O", "raw", server.Url, "out.raw");

        AssertOneErrorLine(result, $"Could not open '{server.Url}': NBD handshake failed: NBD protocol error: Unexpected option type 7, expected 8");
        Assert.That(File.Exists(Dir["out.raw"]), Is.False, "nothing is created when the source cannot be opened");
    }

    [Test]
    public void Info_StallAfterHandshake_TimesOutWithOneLine()
    {
        using var server = new MisbehavingNbdServer(Mode.Stall);

        var result = Img.RunWithEnvironment(Dir.Path, Timeout, "info", server.Url);

        AssertOneErrorLine(result, $"Could not open '{server.Url}': Could not read image for determining its format: The NBD server did not answer within 2 s");
    }

    [Test]
    public void Convert_ChunksOutOfOrder_CopiesTheExportExactly()
    {
        using var server = new MisbehavingNbdServer(Mode.ChunksOutOfOrder);

        var result = Img.RunWithEnvironment(Dir.Path, Timeout, "convert", "-f", "raw", "-O", "raw", server.Url, "out.raw");

        Assert.That(result.Stderr, Is.Empty);
        Assert.That(result.ExitCode, Is.Zero);
        Assert.That(File.ReadAllBytes(Dir["out.raw"]), Is.EqualTo(MisbehavingNbdServer.Content));
    }

    private static void AssertOneErrorLine(Tools.Result result, string expected)
    {
        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(1));
            Assert.That(result.Stdout, Is.Empty, "no progress or success is reported");
            Assert.That(result.Stderr, Does.StartWith("img: " + expected));
            Assert.That(result.Stderr.TrimEnd('\n'), Does.Not.Contain('\n'), "one line");
        });
    }
}
