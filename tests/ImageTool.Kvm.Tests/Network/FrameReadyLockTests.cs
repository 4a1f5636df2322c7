using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using ImageTool.Kvm.Network;

namespace ImageTool.Kvm.Tests.Network;

/// <summary>
/// A NIC's FrameReady handler takes the NIC's lock and then the network's (TryTake), so the network must never
/// raise FrameReady while its own lock is held: that lock-order inversion froze img run (the vCPU thread inside
/// UserNetwork.Send waiting for the NIC, a pool thread inside the NIC waiting for the network, every timer tick
/// queueing behind them until the pool had hundreds of threads). The probe stands for the pool thread: another
/// thread must be able to take the network's lock while FrameReady runs; it gives up after a minute so the bug
/// fails the test instead of hanging it.
/// </summary>
public class FrameReadyLockTests
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(60);

    [Test]
    public void HostForward_HostDataWaitsWhenTheGuestAccepts_FrameReadyOutsideTheNetworksLock()
    {
        var rule = NetworkOptions.ParseHostForward("tcp:127.0.0.1:0-:22");
        using var network = new UserNetwork(new UserNetOptions { HostForwards = [rule] });
        var probe = new LockProbe(network);
        var guest = new TestGuest(network);
        using var client = new TcpClient();
        client.Connect(IPAddress.Loopback, network.TcpForwardPorts.Single());
        client.GetStream().Write("early"u8); // already on the NAT's socket when the guest's SYN-ACK arrives
        var syn = TestGuest.IpPayload(guest.WaitFor(f => TestGuest.IsTcp(f, 22))).ToArray();
        ushort remotePort = BinaryPrimitives.ReadUInt16BigEndian(syn);
        uint their = BinaryPrimitives.ReadUInt32BigEndian(syn.AsSpan(4)) + 1;

        guest.SendTcp(UserNetwork.Gateway, 22, remotePort, 5000, their, TcpHeader.Syn | TcpHeader.Ack, options: [2, 4, 0x05, 0xB4]);

        var data = TestGuest.IpPayload(guest.WaitFor(f => TestGuest.IsTcp(f, 22) && TestGuest.IpPayload(f).Length > 20, 120_000));
        Assert.That(data[20..].ToArray(), Is.EqualTo("early"u8.ToArray()));
        Assert.That(probe.Blocked, Is.Zero, "FrameReady was raised under the network's lock");
    }

    [Test]
    public void Nat_GuestConnectsToAHostServer_FrameReadyOutsideTheNetworksLock()
    {
        using var server = new TcpListener(IPAddress.Loopback, 0);
        server.Start();
        using var network = new UserNetwork(new UserNetOptions());
        var probe = new LockProbe(network);
        var guest = new TestGuest(network);
        ushort port = (ushort)((IPEndPoint)server.LocalEndpoint).Port;

        guest.SendTcp(UserNetwork.Gateway, 40100, port, 7000, 0, TcpHeader.Syn, options: [2, 4, 0x05, 0xB4]);

        var synAck = TestGuest.IpPayload(guest.WaitFor(f => TestGuest.IsTcp(f, 40100), 120_000));
        Assert.That(synAck[13], Is.EqualTo(TcpHeader.Syn | TcpHeader.Ack));
        Assert.That(probe.Blocked, Is.Zero, "FrameReady was raised under the network's lock");
    }

    // Counts the FrameReady calls during which another thread could not take the network's lock.
    private sealed class LockProbe
    {
        private int _blocked;

        public LockProbe(UserNetwork network) => network.FrameReady += () =>
        {
            if (!Task.Run(() => network.Pending).Wait(ProbeTimeout)) Interlocked.Increment(ref _blocked);
        };

        public int Blocked => Volatile.Read(ref _blocked);
    }
}
