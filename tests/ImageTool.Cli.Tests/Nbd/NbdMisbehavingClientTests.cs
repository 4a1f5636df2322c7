using System.Net.Sockets;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests.Nbd;

/// <summary>
/// img nbd and qemu-nbd fed the same bad requests by a client that writes the wire bytes itself: the same error
/// replies (or the same hang-up), the server goes on serving its other clients, and the image holds only what
/// clients wrote in full.
/// </summary>
public class NbdMisbehavingClientTests : QemuGoldenTestBase
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private const long Size = 64 << 20;
    private const ushort Trim = 4, Unknown = 42;

    private void MakeImage()
    {
        Tools.QemuImg("create", "-f", "qcow2", Dir["disk.qcow2"], "64M").Ok();
        Tools.QemuIo("-c", "write -P 0x5a 0 1M", "-c", "write -P 0x6b 3M 64k", Dir["disk.qcow2"]).Ok();
        File.Copy(Dir["disk.qcow2"], Dir["orig.qcow2"]);
    }

    private NbdPeer Serve(string server) => server == "qemu-nbd"
        ? NbdPeer.QemuNbd(Dir, server, Dir["disk.qcow2"], "-t", "-e", "8", "-f", "qcow2")
        : NbdPeer.Img(Dir, server, "disk.qcow2", "-t", "-e", "8", "-f", "qcow2");

    /// <summary>Each request alone on the wire, then its reply's error (and a read's data skipped).</summary>
    private static List<string> Refusals(string socket)
    {
        var answers = new List<string>();
        using var client = new RawNbdClient(socket, Patience);
        Assert.That(client.Size, Is.EqualTo(Size));
        void Ask(string what, byte[] header, byte[]? payload = null, int readData = 0)
        {
            client.Send(payload == null ? [header] : [header, payload]);
            var (error, cookie) = client.ReadReply();
            if (error == 0 && readData > 0) client.Receive(readData);
            answers.Add($"{what}: error {error}, cookie {cookie}");
        }
        Ask("read past the end", RawNbdClient.Request(RawNbdClient.Read, 1, Size - 512, 4096));
        Ask("read starting past the end", RawNbdClient.Request(RawNbdClient.Read, 2, Size + 4096, 512));
        Ask("read over 32 MiB", RawNbdClient.Request(RawNbdClient.Read, 3, 0, (32 << 20) + 512));
        Ask("write past the end", RawNbdClient.Request(RawNbdClient.Write, 4, Size - 512, 4096), new byte[4096]);
        Ask("trim past the end", RawNbdClient.Request(Trim, 5, Size - 512, 4096));
        Ask("unknown command", RawNbdClient.Request(Unknown, 6, 0, 512));
        var unknownFlag = RawNbdClient.Request(RawNbdClient.Read, 7, 0, 512);
        unknownFlag[5] = 0x80; // a command flag bit no version of the protocol defines
        Ask("unknown flag", unknownFlag);
        Ask("good read", RawNbdClient.Request(RawNbdClient.Read, 8, 0, 4096), readData: 4096);
        return answers;
    }

    [Test]
    public void BadRequests_GetQemuNbdsErrors_AndTheSessionGoesOn()
    {
        Tools.Require("qemu-nbd");
        MakeImage();
        List<string> qemu, img;
        using (var server = Serve("qemu-nbd")) qemu = Refusals(server.Socket);
        using (var server = Serve("img")) img = Refusals(server.Socket);

        Assert.That(img, Is.EqualTo(qemu));
        Assert.That(img[^1], Is.EqualTo("good read: error 0, cookie 8"));
        Tools.QemuImg("compare", Dir["orig.qcow2"], Dir["disk.qcow2"]).Ok();
    }

    [Test]
    public void ChangesToAReadOnlyExport_RefusedAsByQemuNbd()
    {
        Tools.Require("qemu-nbd");
        MakeImage();
        List<string> Ask(string socket)
        {
            using var client = new RawNbdClient(socket, Patience);
            var answers = new List<string>();
            client.Send(RawNbdClient.Request(RawNbdClient.Write, 1, 0, 4096), new byte[4096]);
            answers.Add($"write: {client.ReadReply()}");
            client.Send(RawNbdClient.Request(Trim, 2, 0, 4096));
            answers.Add($"trim: {client.ReadReply()}");
            client.Send(RawNbdClient.Request(RawNbdClient.Write, 3, Size, 512), new byte[512]);
            answers.Add($"write past the end: {client.ReadReply()}");
            return answers;
        }
        List<string> qemu, img;
        using (var server = NbdPeer.QemuNbd(Dir, "qemu-nbd", Dir["disk.qcow2"], "-t", "-r", "-f", "qcow2")) qemu = Ask(server.Socket);
        using (var server = NbdPeer.Img(Dir, "img", "disk.qcow2", "-t", "-r", "-f", "qcow2")) img = Ask(server.Socket);

        Assert.That(img, Is.EqualTo(qemu));
        Tools.QemuImg("compare", Dir["orig.qcow2"], Dir["disk.qcow2"]).Ok();
    }

    /// <summary>How the server answers a client that breaks the framing: its reply, if any, and whether it hangs up.</summary>
    private static string Outcome(RawNbdClient client)
    {
        try
        {
            var (error, cookie) = client.ReadReply();
            return $"error {error}, cookie {cookie}, then " + (client.IsClosedByServer() ? "closed" : "more");
        }
        catch (EndOfStreamException)
        {
            return "closed";
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return "closed";
        }
    }

    private static Dictionary<string, string> BreakFraming(string socket)
    {
        var outcomes = new Dictionary<string, string>();
        using (var client = new RawNbdClient(socket, Patience))
        {
            client.Send(System.Text.Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: example\r\n\r\n"));
            outcomes["garbage after the handshake"] = Outcome(client);
        }
        using (var client = new RawNbdClient(socket, Patience))
        {
            // A write announcing more than 32 MiB, with a payload that starts like a request of its own.
            client.Send(RawNbdClient.Request(RawNbdClient.Write, 1, 0, (32 << 20) + 4096), RawNbdClient.Request(RawNbdClient.Read, 2, 0, 512));
            outcomes["write over 32 MiB"] = Outcome(client);
        }
        using (var client = new RawNbdClient(socket, Patience))
        {
            // Half a write's payload, then the client is gone: none of it may land.
            client.Send(RawNbdClient.Request(RawNbdClient.Write, 1, 2 << 20, 1 << 20), Enumerable.Repeat((byte)0xee, 512 << 10).ToArray());
        }
        return outcomes;
    }

    [Test]
    public void ClientsBreakingTheFraming_AreDroppedAsByQemuNbd_OthersStillServed_NothingHalfWritten()
    {
        Tools.Require("qemu-nbd");
        MakeImage();
        Dictionary<string, string> qemu, img;
        using (var server = Serve("qemu-nbd")) qemu = BreakFraming(server.Socket);
        using (var server = Serve("img"))
        {
            using var bystander = new RawNbdClient(server.Socket, Patience);
            img = BreakFraming(server.Socket);

            // A client connected all along is still served, and so is a new one.
            bystander.Send(RawNbdClient.Request(RawNbdClient.Read, 9, 3 << 20, 4096));
            Assert.That(bystander.ReadReply(), Is.EqualTo((0u, 9UL)));
            Assert.That(bystander.Receive(4096), Is.All.EqualTo(0x6b));
            Tools.QemuImg("compare", "-f", "raw", "-F", "qcow2", server.Url, Dir["orig.qcow2"]).Ok();
            Assert.That(server.HasExited, Is.False);
        }

        Assert.That(img, Is.EqualTo(qemu), string.Join("; ", img) + " vs qemu-nbd's " + string.Join("; ", qemu));
        Tools.QemuImg("check", Dir["disk.qcow2"]).Ok();
        Tools.QemuImg("compare", Dir["orig.qcow2"], Dir["disk.qcow2"]).Ok();
    }
}
