using System.Buffers.Binary;

namespace ImageTool.Kvm.Network;

/// <summary>Builds Ethernet/IPv4 frames (no FCS, padded to 60 bytes) and reads their headers; addresses are host-order <c>uint</c>s.</summary>
internal static class Packet
{
    public const int EthHeader = 14, IpHeader = 20, MinFrame = 60;
    public const ushort TypeIp = 0x0800, TypeArp = 0x0806;
    public const byte Icmp = 1, Tcp = 6, Udp = 17;

    public static readonly byte[] Broadcast = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

    /// <summary>slirp's virtual MACs: 52:55 followed by the IPv4 address.</summary>
    public static byte[] VirtualMac(uint ip) => [0x52, 0x55, (byte)(ip >> 24), (byte)(ip >> 16), (byte)(ip >> 8), (byte)ip];

    public static uint Ip(byte a, byte b, byte c, byte d) => (uint)(a << 24 | b << 16 | c << 8 | d);

    public static string Format(uint ip) => $"{ip >> 24}.{(ip >> 16) & 0xFF}.{(ip >> 8) & 0xFF}.{ip & 0xFF}";

    public static byte[] Ethernet(ReadOnlySpan<byte> destination, ReadOnlySpan<byte> source, ushort type, int payload, out Span<byte> body)
    {
        var frame = new byte[Math.Max(MinFrame, EthHeader + payload)];
        destination.CopyTo(frame);
        source.CopyTo(frame.AsSpan(6));
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), type);
        body = frame.AsSpan(EthHeader, payload);
        return frame;
    }

    /// <summary>An IPv4 frame with a 20-byte header (DF clear); returns the frame and the payload area to fill.</summary>
    public static byte[] Ipv4(ReadOnlySpan<byte> dstMac, ReadOnlySpan<byte> srcMac, uint source, uint destination, byte protocol,
        int payload, byte ttl, ushort id, out Span<byte> body)
    {
        var frame = Ethernet(dstMac, srcMac, TypeIp, IpHeader + payload, out var ip);
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(IpHeader + payload));
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], id);
        ip[8] = ttl;
        ip[9] = protocol;
        BinaryPrimitives.WriteUInt32BigEndian(ip[12..], source);
        BinaryPrimitives.WriteUInt32BigEndian(ip[16..], destination);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum.Compute(ip[..IpHeader]));
        body = ip[IpHeader..];
        return frame;
    }

    /// <summary>Fills in the TCP or UDP checksum of a frame built by <see cref="Ipv4"/>.</summary>
    public static void SealTransport(byte[] frame, int checksumOffset)
    {
        var ip = frame.AsSpan(EthHeader);
        int total = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        var segment = ip[IpHeader..total];
        uint source = BinaryPrimitives.ReadUInt32BigEndian(ip[12..]), destination = BinaryPrimitives.ReadUInt32BigEndian(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(segment[checksumOffset..], 0);
        ushort sum = Checksum.Transport(source, destination, ip[9], segment);
        if (sum == 0 && ip[9] == Udp) sum = 0xFFFF;
        BinaryPrimitives.WriteUInt16BigEndian(segment[checksumOffset..], sum);
    }
}
