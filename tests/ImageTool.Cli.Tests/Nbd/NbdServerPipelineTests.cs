using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests.Nbd;

/// <summary>img nbd reads requests while earlier ones run, and answers each as soon as it is done, as qemu-nbd does.</summary>
public class NbdServerPipelineTests : QemuGoldenTestBase
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Test]
    public void SlowRead_DoesNotHoldBackTheNextRequest_RepliesOutOfOrder()
    {
        Tools.Require("nbdkit");
        // The served device is nbdkit's eval plugin: once "armed" exists, a read at offset 0 waits until "gate"
        // exists; every other read answers at once. Multi-conn lets img's client read both ranges at the same time.
        string pread = $"if [ $4 = 0 ] && [ -e '{Dir["armed"]}' ]; then while [ ! -e '{Dir["gate"]}' ]; do sleep 0.05; done; fi; head -c $3 /dev/zero";
        using var inner = NbdPeer.Nbdkit(Dir, "k", "eval", "get_size=echo 1048576", "can_multi_conn=exit 0", "thread_model=echo parallel", $"pread={pread}");
        using var img = NbdPeer.Img(Dir, "img", inner.Url, "-t", "-r", "-f", "raw");
        File.WriteAllText(Dir["armed"], "");
        using var client = new RawNbdClient(img.Socket, Patience);

        client.Send(RawNbdClient.Request(RawNbdClient.Read, 1, 0, 4096), RawNbdClient.Request(RawNbdClient.Read, 2, 512 * 1024, 4096));

        Assert.That(client.ReadReply(), Is.EqualTo((0u, 2UL)), "the read after the blocked one is answered first");
        Assert.That(client.Receive(4096), Is.All.Zero);
        File.WriteAllText(Dir["gate"], "");
        Assert.That(client.ReadReply(), Is.EqualTo((0u, 1UL)));
        Assert.That(client.Receive(4096), Is.All.Zero);
    }

    [Test]
    public void BurstOfWritesFlushAndDisconnect_EveryRequestAnsweredAndWritten()
    {
        const int writes = 40, length = 64 * 1024, stride = 128 * 1024;
        Tools.QemuImg("create", "-f", "qcow2", Dir["disk.qcow2"], "8M").Ok();
        var expected = new byte[8 << 20];
        var messages = new List<byte[]>();
        for (int i = 0; i < writes; i++)
        {
            var data = Enumerable.Repeat((byte)(i + 1), length).ToArray();
            data.CopyTo(expected, i * stride);
            messages.Add(RawNbdClient.Request(RawNbdClient.Write, (ulong)(i + 1), (ulong)(i * stride), length));
            messages.Add(data);
        }
        messages.Add(RawNbdClient.Request(RawNbdClient.Flush, 1000, 0, 0));
        messages.Add(RawNbdClient.Request(RawNbdClient.Disconnect, 1001, 0, 0));
        File.WriteAllBytes(Dir["expected.raw"], expected);
        using var img = NbdPeer.Img(Dir, "img", "disk.qcow2", "-f", "qcow2");

        using (var client = new RawNbdClient(img.Socket, Patience))
        {
            // More requests than the server runs at once: it takes the rest as earlier ones finish.
            var sender = Task.Run(() => client.Send([.. messages]));
            var answered = Enumerable.Range(0, writes + 1).Select(_ => client.ReadReply()).ToList();
            sender.Wait(Patience);

            Assert.That(answered.Select(r => r.Error), Is.All.Zero);
            Assert.That(answered.Select(r => r.Cookie), Is.EquivalentTo(Enumerable.Range(1, writes).Select(i => (ulong)i).Append(1000UL)));
            Assert.That(client.IsClosedByServer(), "the server hangs up after DISCONNECT, once every request is answered");
        }

        Assert.That(img.WaitForExit(Patience), "without -t the server ends when its last client has left");
        Tools.QemuImg("check", Dir["disk.qcow2"]).Ok();
        Tools.QemuImg("compare", "-f", "qcow2", "-F", "raw", Dir["disk.qcow2"], Dir["expected.raw"]).Ok();
    }
}
