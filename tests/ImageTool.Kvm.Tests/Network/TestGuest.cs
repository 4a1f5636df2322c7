using System.Buffers.Binary;
using ImageTool.Kvm.Network;

namespace ImageTool.Kvm.Tests.Network;

/// <summary>A scripted guest at 10.0.2.15 that crafts frames for a <see cref="UserNetwork"/> and reads its replies.</summary>
internal sealed class TestGuest(UserNetwork network)
{
    public static readonly byte[] Mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    public static readonly uint Address = Packet.Ip(10, 0, 2, 15);

    public List<byte[]> Drain()
    {
        var frames = new List<byte[]>();
        while (network.TryTake(out var frame)) frames.Add(frame);
        return frames;
    }

    /// <summary>Waits until a frame matching <paramref name="match"/> arrives (others are kept in <see cref="Seen"/>).</summary>
    public byte[] WaitFor(Func<byte[], bool> match, int timeoutMs = 5000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (DateTime.UtcNow < deadline)
        {
            while (network.TryTake(out var frame))
            {
                if (match(frame)) return frame;
                Seen.Add(frame);
            }
            Thread.Sleep(2);
        }
        throw new TimeoutException("no matching frame from the user-mode network");
    }

    public List<byte[]> Seen { get; } = [];

    public void SendIp(uint destination, byte protocol, ReadOnlySpan<byte> payload, uint source = 0)
    {
        var frame = Packet.Ipv4(UserNetwork.GatewayMac, Mac, source == 0 ? Address : source, destination, protocol, payload.Length, 64, 1, out var body);
        payload.CopyTo(body);
        if (protocol == Packet.Tcp) Packet.SealTransport(frame, 16);
        if (protocol == Packet.Udp) Packet.SealTransport(frame, 6);
        network.Send(frame);
    }

    public void SendUdp(uint destination, ushort sourcePort, ushort port, ReadOnlySpan<byte> data, uint source = 0)
    {
        var udp = new byte[8 + data.Length];
        BinaryPrimitives.WriteUInt16BigEndian(udp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), port);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
        data.CopyTo(udp.AsSpan(8));
        SendIp(destination, Packet.Udp, udp, source);
    }

    public void SendTcp(uint destination, ushort sourcePort, ushort port, uint seq, uint ack, byte flags, ReadOnlySpan<byte> data = default,
        ushort window = 65535, byte[]? options = null)
    {
        options ??= [];
        var tcp = new byte[20 + options.Length + data.Length];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(2), port);
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(4), seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(8), ack);
        tcp[12] = (byte)((20 + options.Length) / 4 << 4);
        tcp[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(14), window);
        options.CopyTo(tcp, 20);
        data.CopyTo(tcp.AsSpan(20 + options.Length));
        SendIp(destination, Packet.Tcp, tcp);
    }

    /// <summary>An ARP who-has for <paramref name="target"/> from this guest.</summary>
    public static byte[] ArpRequest(uint target)
    {
        var frame = Packet.Ethernet(Packet.Broadcast, Mac, Packet.TypeArp, 28, out var arp);
        BinaryPrimitives.WriteUInt16BigEndian(arp, 1);
        BinaryPrimitives.WriteUInt16BigEndian(arp[2..], 0x0800);
        arp[4] = 6;
        arp[5] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(arp[6..], 1);
        Mac.CopyTo(arp[8..]);
        BinaryPrimitives.WriteUInt32BigEndian(arp[14..], Address);
        BinaryPrimitives.WriteUInt32BigEndian(arp[24..], target);
        return frame;
    }

    public static ushort EtherType(byte[] frame) => BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(12));

    public static byte Protocol(byte[] frame) => EtherType(frame) == Packet.TypeIp ? frame[14 + 9] : (byte)0;

    public static Span<byte> IpPayload(byte[] frame)
    {
        var ip = frame.AsSpan(14);
        int total = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        return ip[((ip[0] & 0xF) * 4)..total];
    }

    public static bool IsTcp(byte[] frame, ushort guestPort) =>
        Protocol(frame) == Packet.Tcp && BinaryPrimitives.ReadUInt16BigEndian(IpPayload(frame)[2..]) == guestPort;

    public static bool ChecksumsValid(byte[] frame)
    {
        var ip = frame.AsSpan(14);
        if (Checksum.Compute(ip[..20]) != 0) return false;
        int total = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        uint source = BinaryPrimitives.ReadUInt32BigEndian(ip[12..]), destination = BinaryPrimitives.ReadUInt32BigEndian(ip[16..]);
        if (ip[9] is Packet.Tcp or Packet.Udp) return Checksum.Transport(source, destination, ip[9], ip[20..total]) == 0;
        if (ip[9] == Packet.Icmp) return Checksum.Compute(ip[20..total]) == 0;
        return true;
    }
}
