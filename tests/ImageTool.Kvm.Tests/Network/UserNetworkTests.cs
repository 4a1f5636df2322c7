using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using ImageTool.Kvm.Network;

namespace ImageTool.Kvm.Tests.Network;

/// <summary>The user-mode network fed with crafted frames (no KVM): the answers NETWORK.md §1 measured on qemu 7.2.</summary>
public class UserNetworkTests
{
    [Test]
    public void Arp_AnswersGatewayAndDnsWithSlirpMacs_NothingElse()
    {
        using var network = new UserNetwork(new UserNetOptions());
        var guest = new TestGuest(network);
        network.Send(TestGuest.ArpRequest(Packet.Ip(10, 0, 2, 2)));
        network.Send(TestGuest.ArpRequest(Packet.Ip(10, 0, 2, 3)));
        foreach (byte host in new byte[] { 1, 4, 15, 99, 255 }) network.Send(TestGuest.ArpRequest(Packet.Ip(10, 0, 2, host)));
        var replies = guest.Drain();
        Assert.That(replies, Has.Count.EqualTo(2));
        Assert.That(replies[0].AsSpan(22, 6).ToArray(), Is.EqualTo(new byte[] { 0x52, 0x55, 10, 0, 2, 2 }));
        Assert.That(replies[1].AsSpan(22, 6).ToArray(), Is.EqualTo(new byte[] { 0x52, 0x55, 10, 0, 2, 3 }));
        Assert.That(replies[0].AsSpan(0, 6).ToArray(), Is.EqualTo(TestGuest.Mac));
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(replies[0].AsSpan(20)), Is.EqualTo(2));
        Assert.That(replies[0], Has.Length.EqualTo(60));
    }

    private static byte[] Dhcp(byte type, uint requested = 0, byte[]? mac = null)
    {
        var b = new byte[300];
        b[0] = 1;
        b[1] = 1;
        b[2] = 6;
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), 0x12345678);
        (mac ?? TestGuest.Mac).CopyTo(b, 28);
        new byte[] { 99, 130, 83, 99 }.CopyTo(b, 236);
        int o = 240;
        b[o++] = 53;
        b[o++] = 1;
        b[o++] = type;
        if (requested != 0)
        {
            b[o++] = 50;
            b[o++] = 4;
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(o), requested);
            o += 4;
        }
        b[o++] = 55;
        b[o++] = 3;
        b[o++] = 1;
        b[o++] = 3;
        b[o++] = 6;
        b[o] = 255;
        return b;
    }

    private static List<(byte Code, byte[] Value)> Options(Span<byte> bootp)
    {
        var list = new List<(byte, byte[])>();
        for (int i = 240; bootp[i] != 255; i += 2 + bootp[i + 1]) list.Add((bootp[i], bootp.Slice(i + 2, bootp[i + 1]).ToArray()));
        return list;
    }

    [Test]
    public void Dhcp_OffersAndAcks10_0_2_15_WithSlirpsOptions()
    {
        using var network = new UserNetwork(new UserNetOptions());
        var guest = new TestGuest(network);
        guest.SendUdp(0xFFFFFFFF, 68, 67, Dhcp(1), source: 0xFFFFFFFF);
        var offer = guest.Drain().Single();
        Assert.That(offer, Has.Length.EqualTo(590));
        Assert.That(offer.AsSpan(0, 6).ToArray(), Is.EqualTo(Packet.Broadcast));
        Assert.That(TestGuest.ChecksumsValid(offer));
        var udp = TestGuest.IpPayload(offer);
        var bootp = udp[8..];
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(bootp[16..]), Is.EqualTo(Packet.Ip(10, 0, 2, 15)));
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(bootp[20..]), Is.EqualTo(Packet.Ip(10, 0, 2, 2)));
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(bootp[4..]), Is.EqualTo(0x12345678));
        var options = Options(bootp);
        Assert.That(options.Select(o => o.Code), Is.EqualTo(new byte[] { 53, 54, 1, 3, 6, 51 }));
        Assert.That(options[0].Value, Is.EqualTo(new byte[] { 2 }));
        Assert.That(options[4].Value, Is.EqualTo(new byte[] { 10, 0, 2, 3 }));
        Assert.That(options[5].Value, Is.EqualTo(new byte[] { 0, 1, 0x51, 0x80 }));

        guest.SendUdp(0xFFFFFFFF, 68, 67, Dhcp(3, Packet.Ip(10, 0, 2, 15)), source: 0);
        var ack = Options(TestGuest.IpPayload(guest.Drain().Single())[8..]);
        Assert.That(ack[0].Value, Is.EqualTo(new byte[] { 5 }));

        guest.SendUdp(0xFFFFFFFF, 68, 67, Dhcp(3, Packet.Ip(10, 0, 2, 40)), source: 0);
        Assert.That(Options(TestGuest.IpPayload(guest.Drain().Single())[8..])[0].Value, Is.EqualTo(new byte[] { 6 }), "NAK");

        guest.SendUdp(0xFFFFFFFF, 68, 67, Dhcp(1, mac: [0x52, 0x54, 0, 0x12, 0x34, 0x57]), source: 0);
        var second = TestGuest.IpPayload(guest.Drain().Single())[8..];
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(second[16..]), Is.EqualTo(Packet.Ip(10, 0, 2, 16)));
    }

    [Test]
    public void Icmp_EchoToGatewayAndDns_AnsweredWithTtl255([Values] bool restrict)
    {
        using var network = new UserNetwork(new UserNetOptions { Restrict = restrict });
        var guest = new TestGuest(network);
        foreach (uint target in new[] { UserNetwork.Gateway, UserNetwork.Dns })
        {
            var echo = new byte[8 + 56];
            echo[0] = 8;
            BinaryPrimitives.WriteUInt16BigEndian(echo.AsSpan(4), 0x4242);
            BinaryPrimitives.WriteUInt16BigEndian(echo.AsSpan(6), 7);
            for (int i = 8; i < echo.Length; i++) echo[i] = (byte)i;
            BinaryPrimitives.WriteUInt16BigEndian(echo.AsSpan(2), Checksum.Compute(echo));
            guest.SendIp(target, Packet.Icmp, echo);
            var reply = guest.Drain().Single();
            Assert.That(TestGuest.ChecksumsValid(reply));
            Assert.That(reply[14 + 8], Is.EqualTo(255), "TTL");
            var icmp = TestGuest.IpPayload(reply);
            Assert.That(icmp[0], Is.EqualTo(0));
            Assert.That(icmp[4..].ToArray(), Is.EqualTo(echo[4..]));
            Assert.That(BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(14 + 12)), Is.EqualTo(target));
        }
    }

    [Test]
    public void Tcp_ClosedPortOrRestrict_AnswersRstAck([Values] bool restrict)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int open = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // now closed
        using var network = new UserNetwork(new UserNetOptions { Restrict = restrict });
        var guest = new TestGuest(network);
        guest.SendTcp(UserNetwork.Gateway, 40000, (ushort)open, 1000, 0, TcpHeader.Syn);
        var rst = guest.WaitFor(f => TestGuest.IsTcp(f, 40000));
        var tcp = TestGuest.IpPayload(rst);
        Assert.That(tcp[13], Is.EqualTo(TcpHeader.Rst | TcpHeader.Ack));
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(tcp[8..]), Is.EqualTo(1001));
        Assert.That(TestGuest.ChecksumsValid(rst));
    }

    [Test]
    public void Restrict_RefusesConnectionsToAnOpenHostPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var network = new UserNetwork(new UserNetOptions { Restrict = true });
        var guest = new TestGuest(network);
        guest.SendTcp(UserNetwork.Gateway, 40001, (ushort)((IPEndPoint)listener.LocalEndpoint).Port, 5, 0, TcpHeader.Syn);
        var rst = guest.WaitFor(f => TestGuest.IsTcp(f, 40001));
        Assert.That(TestGuest.IpPayload(rst)[13], Is.EqualTo(TcpHeader.Rst | TcpHeader.Ack));
        Assert.That(listener.Pending(), Is.False, "the host was contacted");
    }

    [Test]
    public void Tcp_ToGateway_ReachesHostLoopback_DataBothWays_WindowScaling()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        ushort port = (ushort)((IPEndPoint)listener.LocalEndpoint).Port;
        using var network = new UserNetwork(new UserNetOptions());
        var guest = new TestGuest(network);
        byte[] synOptions = [2, 4, 0x05, 0xB4, 1, 3, 3, 7];
        guest.SendTcp(UserNetwork.Gateway, 40002, port, 100, 0, TcpHeader.Syn, options: synOptions);
        using var server = listener.AcceptTcpClient();
        var synAck = TestGuest.IpPayload(guest.WaitFor(f => TestGuest.IsTcp(f, 40002))).ToArray();
        Assert.That(synAck[13], Is.EqualTo(TcpHeader.Syn | TcpHeader.Ack));
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(synAck.AsSpan(8)), Is.EqualTo(101));
        Assert.That(synAck.AsSpan(20, 8).ToArray(), Is.EqualTo(new byte[] { 2, 4, 0x05, 0xB4, 1, 3, 3, 5 }), "MSS 1460 and window scale 5");
        uint their = BinaryPrimitives.ReadUInt32BigEndian(synAck.AsSpan(4)) + 1;
        guest.SendTcp(UserNetwork.Gateway, 40002, port, 101, their, TcpHeader.Ack, window: 1024); // 1024 << 7 = 128 KiB

        // guest → host: 3 segments
        var payload = new byte[3 * 1400];
        new Random(1).NextBytes(payload);
        for (int i = 0; i < 3; i++) guest.SendTcp(UserNetwork.Gateway, 40002, port, 101 + (uint)(i * 1400), their, TcpHeader.Ack, payload.AsSpan(i * 1400, 1400), 1024);
        var stream = server.GetStream();
        var got = new byte[payload.Length];
        stream.ReadExactly(got);
        Assert.That(got, Is.EqualTo(payload));

        // host → guest: 100 KiB fits the 128 KiB scaled window without any ACK; segments are ≤ 1460 bytes
        var back = new byte[100 * 1024];
        new Random(2).NextBytes(back);
        stream.Write(back);
        var received = new MemoryStream();
        while (received.Length < back.Length)
        {
            var frame = guest.WaitFor(f => TestGuest.IsTcp(f, 40002) && TestGuest.IpPayload(f).Length > 20);
            Assert.That(TestGuest.ChecksumsValid(frame));
            var tcp = TestGuest.IpPayload(frame);
            Assert.That(tcp.Length - 20, Is.LessThanOrEqualTo(1460));
            Assert.That(BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]), Is.EqualTo(their + (uint)received.Length));
            received.Write(tcp[20..]);
        }
        Assert.That(received.ToArray(), Is.EqualTo(back));
        guest.SendTcp(UserNetwork.Gateway, 40002, port, 101 + (uint)payload.Length, their + (uint)back.Length, TcpHeader.Ack, window: 1024);

        // host closes: FIN reaches the guest; the guest closes: the host reads EOF
        server.Client.Shutdown(SocketShutdown.Send);
        var fin = guest.WaitFor(f => TestGuest.IsTcp(f, 40002) && (TestGuest.IpPayload(f)[13] & TcpHeader.Fin) != 0);
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(TestGuest.IpPayload(fin)[4..]), Is.EqualTo(their + (uint)back.Length));
        guest.SendTcp(UserNetwork.Gateway, 40002, port, 101 + (uint)payload.Length, their + (uint)back.Length + 1, TcpHeader.Ack | TcpHeader.Fin, window: 1024);
        Assert.That(stream.Read(new byte[1]), Is.EqualTo(0));
    }

    [Test]
    public void Dispose_HostStillGetsWhatTheGuestWasToldArrived()
    {
        // A guest that powers off right after its last write: the network acknowledged the data when it buffered
        // it, so shutting down hands it to the host socket first. The host server reads nothing until then, so
        // the guest fills the kernel's socket buffers and the network's own until the acknowledgements stop.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        ushort port = (ushort)((IPEndPoint)listener.LocalEndpoint).Port;
        var network = new UserNetwork(new UserNetOptions());
        var guest = new TestGuest(network);
        guest.SendTcp(UserNetwork.Gateway, 40004, port, 100, 0, TcpHeader.Syn, options: [2, 4, 0x05, 0xB4]);
        using var server = listener.AcceptSocket();
        var synAck = TestGuest.IpPayload(guest.WaitFor(f => TestGuest.IsTcp(f, 40004))).ToArray();
        uint their = BinaryPrimitives.ReadUInt32BigEndian(synAck.AsSpan(4)) + 1;
        int acked = 0, stalls = 0;
        var segment = new byte[1460];
        while (stalls < 20)
        {
            for (int i = 0; i < 64; i++)
            {
                int offset = acked + i * segment.Length;
                for (int b = 0; b < segment.Length; b++) segment[b] = NetGuest.Pattern(offset + b);
                guest.SendTcp(UserNetwork.Gateway, 40004, port, 101 + (uint)offset, their, TcpHeader.Ack, segment);
            }
            int before = acked;
            foreach (var frame in guest.Drain().Where(f => TestGuest.IsTcp(f, 40004)))
                acked = Math.Max(acked, (int)(BinaryPrimitives.ReadUInt32BigEndian(TestGuest.IpPayload(frame)[8..]) - 101));
            stalls = acked == before ? stalls + 1 : 0;
            if (acked == before) Thread.Sleep(50);
        }

        var disposed = Task.Run(network.Dispose);
        server.ReceiveTimeout = 60_000;
        var received = new MemoryStream();
        var buffer = new byte[65536];
        int read;
        while ((read = server.Receive(buffer)) > 0) received.Write(buffer, 0, read);
        Assert.That(disposed.Wait(TimeSpan.FromSeconds(60)), "Dispose returned");
        Assert.That(received.Length, Is.EqualTo(acked), "bytes acknowledged to the guest");
        Assert.That(received.ToArray(), Is.EqualTo(NetGuest.PatternBytes(acked)));
    }

    [Test]
    public void Tcp_GuestMss536_HostSegmentsStayWithinIt()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        ushort port = (ushort)((IPEndPoint)listener.LocalEndpoint).Port;
        using var network = new UserNetwork(new UserNetOptions());
        var guest = new TestGuest(network);
        guest.SendTcp(UserNetwork.Gateway, 40003, port, 7, 0, TcpHeader.Syn, options: [2, 4, 0x02, 0x18]);
        using var server = listener.AcceptTcpClient();
        var synAck = TestGuest.IpPayload(guest.WaitFor(f => TestGuest.IsTcp(f, 40003))).ToArray();
        Assert.That((synAck[12] >> 4) * 4, Is.EqualTo(24), "no window scale offered to a guest that did not offer it");
        uint their = BinaryPrimitives.ReadUInt32BigEndian(synAck.AsSpan(4)) + 1;
        guest.SendTcp(UserNetwork.Gateway, 40003, port, 8, their, TcpHeader.Ack, window: 4000);
        server.GetStream().Write(new byte[10000]);
        int total = 0;
        while (total < 4000)
        {
            var tcp = TestGuest.IpPayload(guest.WaitFor(f => TestGuest.IsTcp(f, 40003) && TestGuest.IpPayload(f).Length > 20));
            Assert.That(tcp.Length - 20, Is.LessThanOrEqualTo(536));
            total += tcp.Length - 20;
        }
        Thread.Sleep(100);
        Assert.That(guest.Drain().Where(f => TestGuest.IsTcp(f, 40003)).Sum(f => TestGuest.IpPayload(f).Length - 20), Is.Zero, "the 4000-byte window is honoured");
    }

    [Test]
    public void HostForward_HostConnect_BecomesSynToGuest_DataBothWays()
    {
        var rule = NetworkOptions.ParseHostForward("tcp:127.0.0.1:0-:22");
        using var network = new UserNetwork(new UserNetOptions { HostForwards = [rule] });
        var guest = new TestGuest(network);
        int hostPort = network.TcpForwardPorts.Single();
        using var client = new TcpClient();
        client.Connect(IPAddress.Loopback, hostPort);
        var syn = TestGuest.IpPayload(guest.WaitFor(f => TestGuest.IsTcp(f, 22))).ToArray();
        Assert.That(syn[13], Is.EqualTo(TcpHeader.Syn));
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(syn.AsSpan(14 + 0 - 14 + 0)), Is.Not.Zero);
        ushort remotePort = BinaryPrimitives.ReadUInt16BigEndian(syn);
        uint their = BinaryPrimitives.ReadUInt32BigEndian(syn.AsSpan(4)) + 1;
        guest.SendTcp(UserNetwork.Gateway, 22, remotePort, 5000, their, TcpHeader.Syn | TcpHeader.Ack, options: [2, 4, 0x05, 0xB4]);
        var ack = TestGuest.IpPayload(guest.WaitFor(f => TestGuest.IsTcp(f, 22))).ToArray();
        Assert.That(ack[13], Is.EqualTo(TcpHeader.Ack));
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(ack.AsSpan(8)), Is.EqualTo(5001));

        guest.SendTcp(UserNetwork.Gateway, 22, remotePort, 5001, their, TcpHeader.Ack | TcpHeader.Psh, "SSH-2.0-guest\r\n"u8);
        var line = new byte[15];
        client.GetStream().ReadExactly(line);
        Assert.That(line, Is.EqualTo("SSH-2.0-guest\r\n"u8.ToArray()));
        client.GetStream().Write("hello"u8);
        var data = TestGuest.IpPayload(guest.WaitFor(f => TestGuest.IsTcp(f, 22) && TestGuest.IpPayload(f).Length > 20));
        Assert.That(data[20..].ToArray(), Is.EqualTo("hello"u8.ToArray()));
    }

    [Test]
    public void HostForward_PortInUse_OneClearError()
    {
        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        int port = ((IPEndPoint)busy.LocalEndpoint).Port;
        var rule = NetworkOptions.ParseHostForward($"tcp:127.0.0.1:{port}-:22");
        var e = Assert.Throws<ArgumentException>(() => new UserNetwork(new UserNetOptions { HostForwards = [rule] }).Dispose());
        Assert.That(e!.Message, Is.EqualTo($"Could not set up host forwarding rule 'tcp:127.0.0.1:{port}-:22'"));
    }

    [Test]
    public void Udp_ToGateway_ReachesHostLoopback_ReplyComesFromGateway()
    {
        using var server = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        ushort port = (ushort)((IPEndPoint)server.Client.LocalEndPoint!).Port;
        using var network = new UserNetwork(new UserNetOptions());
        var guest = new TestGuest(network);
        guest.SendUdp(UserNetwork.Gateway, 5555, port, "ping"u8);
        IPEndPoint? from = null;
        var got = server.Receive(ref from);
        Assert.That(got, Is.EqualTo("ping"u8.ToArray()));
        server.Send("pong"u8.ToArray(), from);
        var reply = guest.WaitFor(f => TestGuest.Protocol(f) == Packet.Udp);
        Assert.That(TestGuest.ChecksumsValid(reply));
        var udp = TestGuest.IpPayload(reply);
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(udp), Is.EqualTo(port));
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(udp[2..]), Is.EqualTo(5555));
        Assert.That(udp[8..].ToArray(), Is.EqualTo("pong"u8.ToArray()));
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(14 + 12)), Is.EqualTo(UserNetwork.Gateway));
    }

    [Test]
    public void MalformedFrames_AreIgnored()
    {
        using var network = new UserNetwork(new UserNetOptions());
        var guest = new TestGuest(network);
        var random = new Random(3);
        for (int i = 0; i < 2000; i++)
        {
            var frame = new byte[random.Next(0, 200)];
            random.NextBytes(frame);
            if (frame.Length > 14)
            {
                frame[12] = 8;
                frame[13] = (byte)(i % 2 == 0 ? 0 : 6);
                if (i % 4 == 0 && frame.Length > 40) frame[14] = 0x45;
            }
            network.Send(frame);
        }
        guest.Drain();
        Assert.Pass();
    }
}
