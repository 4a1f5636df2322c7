using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ImageTool.Kvm.Tests.Support;

namespace ImageTool.Kvm.Tests.Network;

/// <summary>
/// The micro guest end to end through a NIC and the user-mode network: DHCP lease 10.0.2.15, ARP and ping of
/// the gateway, a TCP connection to a host server through 10.0.2.2 and one from the host through hostfwd, each
/// moving data both ways, checked on both ends. The same image under qemu-system-x86_64 -enable-kvm with the
/// same NIC and <c>-net user</c> (libslirp) is the reference.
/// </summary>
public class NicGuestTests
{
    private const int Bytes = 128 * 1024;

    [TestCase("virtio")]
    [TestCase("e1000")]
    [TestCase("ne2k_pci")]
    public void ImgRun_DhcpPingTcpBothWaysAndHostForward(string model)
    {
        Guest.RequireKvm();
        Tools.Require("nasm");
        using var dir = new TempDir();
        var result = RunGuest(dir, model, (image, forward) => new ImgGuest(["-drive", $"file={image},format=raw",
            "-nic", $"user,model={model},hostfwd=tcp:127.0.0.1:{forward}-:7"]));
        Check(result);
    }

    [TestCase("virtio")]
    [TestCase("e1000")]
    [TestCase("ne2k_pci")]
    public void QemuReference_SameGuestSameNic(string model)
    {
        Guest.RequireKvm();
        Tools.Require("nasm");
        string qemu = Tools.Require("qemu-system-x86_64");
        using var dir = new TempDir();
        var result = RunGuest(dir, model, (image, forward) => new QemuGuest(qemu, ["-enable-kvm", "-M", "pc", "-m", "64", "-display", "none", "-vga", "none",
            "-serial", "stdio", "-drive", $"file={image},format=raw", "-nic", $"user,model={model},hostfwd=tcp:127.0.0.1:{forward}-:7"]));
        Check(result);
    }

    private static void Check(Outcome result)
    {
        Assert.That(result.Output, Does.Contain("DHCP 0A00020F\n"));
        Assert.That(result.Output, Does.Contain("ARP 00000002\n"));
        Assert.That(result.Output, Does.Contain("PING ok\n"));
        string line = $"SENT {Bytes:X8} RECV {Bytes:X8} BAD 00000000\n";
        Assert.That(result.Output.Split(line).Length - 1, Is.EqualTo(2), result.Output);
        Assert.That(result.Output, Does.Contain("DONE"));
        Assert.That(result.FromGuestOut, Is.EqualTo(NetGuest.PatternBytes(Bytes)), "guest → host through the NAT");
        Assert.That(result.FromGuestForward, Is.EqualTo(NetGuest.PatternBytes(Bytes)), "guest → host through hostfwd");
    }

    internal sealed record Outcome(string Output, byte[] FromGuestOut, byte[] FromGuestForward, TimeSpan Out, TimeSpan Forward, TimeSpan Lease);

    internal interface IRunningGuest : IDisposable
    {
        string Output { get; }
    }

    /// <param name="oneWay">The guest only sends through the NAT and only receives through hostfwd (bench).</param>
    internal static Outcome RunGuest(TempDir dir, string model, Func<string, int, IRunningGuest> start, int bytes = Bytes, bool oneWay = false)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int forward = NetGuest.FreePort();
        string image = NetGuest.Build(dir, model, ((IPEndPoint)listener.LocalEndpoint).Port, bytes, oneWay ? 0 : bytes);
        var boot = Stopwatch.StartNew();
        using var guest = start(image, forward);
        WaitFor(guest, "DHCP ");
        var lease = boot.Elapsed;
        var accept = listener.AcceptSocketAsync();
        if (!accept.Wait(TimeSpan.FromSeconds(60))) Assert.Fail($"the guest did not connect:\n{guest.Output}");
        using var inbound = accept.Result;
        var (fromGuest, outTime) = NetGuest.Exchange(inbound, oneWay ? 0 : bytes);
        WaitFor(guest, "LISTEN\n");
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(IPAddress.Loopback, forward);
        var watch = Stopwatch.StartNew();
        var (fromForward, forwardTime) = NetGuest.Exchange(client, bytes);
        WaitFor(guest, "DONE");
        if (oneWay) forwardTime = watch.Elapsed; // until the guest reported every byte received
        return new Outcome(guest.Output, fromGuest, fromForward, outTime, forwardTime, lease);
    }

    private static void WaitFor(IRunningGuest guest, string text)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!guest.Output.Contains(text, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"no '{text.Trim()}' from the guest:\n{guest.Output}");
            Thread.Sleep(2);
        }
    }

    internal sealed class ImgGuest(string[] args) : IRunningGuest
    {
        private readonly Guest.Running _running = Guest.Start(args);

        public string Output => _running.Output;

        public void Dispose()
        {
            _running.Stop();
            _running.Dispose();
        }
    }

    internal sealed class QemuGuest : IRunningGuest
    {
        private readonly Process _process;
        private readonly System.Text.StringBuilder _output = new();

        public QemuGuest(string qemu, string[] args)
        {
            var info = new ProcessStartInfo(qemu) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
            foreach (string arg in args) info.ArgumentList.Add(arg);
            _process = Process.Start(info)!;
            _process.OutputDataReceived += (_, e) =>
            {
                lock (_output) _output.Append(e.Data).Append('\n');
            };
            _process.ErrorDataReceived += (_, e) => { };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public string Output
        {
            get
            {
                lock (_output) return _output.ToString();
            }
        }

        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill();
            _process.WaitForExit();
            _process.Dispose();
        }
    }
}
