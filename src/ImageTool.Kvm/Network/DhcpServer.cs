using System.Buffers.Binary;
using System.Text;

namespace ImageTool.Kvm.Network;

/// <summary>
/// slirp's BOOTP/DHCP server as measured (NETWORK.md §1.2): leases from 10.0.2.15 (16 of them, one per MAC),
/// OFFER/ACK broadcast from 10.0.2.2:67 with options 53, 54, 1, 3, 6, 51 (86400 s) in that order, a 548-byte
/// BOOTP payload; a REQUEST for an address not leased to that MAC gets a NAK.
/// </summary>
internal sealed class DhcpServer(UserNetwork network)
{
    public const ushort ServerPort = 67, ClientPort = 68;
    private const int Leases = 16, BootpSize = 548, FixedPart = 236;
    private const byte Discover = 1, Offer = 2, Request = 3, Ack = 5, Nak = 6, Release = 7;
    private static readonly byte[] Magic = [99, 130, 83, 99];

    private readonly byte[]?[] _leases = new byte[Leases][];

    public void Input(ReadOnlySpan<byte> bootp)
    {
        if (bootp.Length < FixedPart + 4 || bootp[0] != 1 || bootp[1] != 1 || bootp[2] != 6 || !bootp.Slice(FixedPart, 4).SequenceEqual(Magic)) return;
        var mac = bootp.Slice(28, 6);
        byte type = 0;
        uint requested = BinaryPrimitives.ReadUInt32BigEndian(bootp[12..]); // ciaddr, unless option 50 says otherwise
        var options = bootp[(FixedPart + 4)..];
        for (int i = 0; i < options.Length && options[i] != 255;)
        {
            if (options[i] == 0)
            {
                i++;
                continue;
            }
            if (i + 1 >= options.Length || i + 2 + options[i + 1] > options.Length) break;
            var value = options.Slice(i + 2, options[i + 1]);
            if (options[i] == 53 && value.Length == 1) type = value[0];
            else if (options[i] == 50 && value.Length == 4) requested = BinaryPrimitives.ReadUInt32BigEndian(value);
            i += 2 + options[i + 1];
        }
        int lease = Find(mac);
        switch (type)
        {
            case Discover:
                if (lease < 0) lease = Allocate(mac);
                if (lease >= 0) Reply(bootp, Offer, UserNetwork.FirstLease + (uint)lease);
                break;
            case Request:
                if (requested == 0 && lease >= 0) requested = UserNetwork.FirstLease + (uint)lease;
                if (lease < 0 && requested - UserNetwork.FirstLease < Leases && _leases[requested - UserNetwork.FirstLease] == null)
                {
                    lease = (int)(requested - UserNetwork.FirstLease);
                    _leases[lease] = mac.ToArray();
                }
                if (lease >= 0 && requested == UserNetwork.FirstLease + (uint)lease) Reply(bootp, Ack, requested);
                else Reply(bootp, Nak, 0);
                break;
            case Release:
                if (lease >= 0) _leases[lease] = null;
                break;
        }
    }

    private int Find(ReadOnlySpan<byte> mac)
    {
        for (int i = 0; i < Leases; i++)
        {
            if (_leases[i] is { } m && mac.SequenceEqual(m)) return i;
        }
        return -1;
    }

    private int Allocate(ReadOnlySpan<byte> mac)
    {
        for (int i = 0; i < Leases; i++)
        {
            if (_leases[i] != null) continue;
            _leases[i] = mac.ToArray();
            return i;
        }
        return -1;
    }

    private void Reply(ReadOnlySpan<byte> request, byte type, uint address)
    {
        var frame = Packet.Ipv4(Packet.Broadcast, UserNetwork.GatewayMac, UserNetwork.Gateway, 0xFFFFFFFF, Packet.Udp,
            8 + BootpSize, 64, network.NextIpId(), out var udp);
        BinaryPrimitives.WriteUInt16BigEndian(udp, ServerPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], ClientPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], 8 + BootpSize);
        var b = udp[8..];
        b[0] = 2;
        b[1] = 1;
        b[2] = 6;
        request.Slice(4, 4).CopyTo(b[4..]);                     // xid
        BinaryPrimitives.WriteUInt32BigEndian(b[16..], address); // yiaddr
        if (type != Nak) BinaryPrimitives.WriteUInt32BigEndian(b[20..], UserNetwork.Gateway); // siaddr
        request.Slice(28, 16).CopyTo(b[28..]);                  // chaddr
        Magic.CopyTo(b[FixedPart..]);
        int o = FixedPart + 4;
        void Option(byte code, ReadOnlySpan<byte> value, Span<byte> into)
        {
            into[o] = code;
            into[o + 1] = (byte)value.Length;
            value.CopyTo(into[(o + 2)..]);
            o += 2 + value.Length;
        }
        Span<byte> v = stackalloc byte[4];
        Option(53, [type], b);
        BinaryPrimitives.WriteUInt32BigEndian(v, UserNetwork.Gateway);
        Option(54, v, b);
        if (type != Nak)
        {
            BinaryPrimitives.WriteUInt32BigEndian(v, 0xFFFFFF00);
            Option(1, v, b);
            BinaryPrimitives.WriteUInt32BigEndian(v, UserNetwork.Gateway);
            Option(3, v, b);
            BinaryPrimitives.WriteUInt32BigEndian(v, UserNetwork.Dns);
            Option(6, v, b);
            BinaryPrimitives.WriteUInt32BigEndian(v, 86400);
            Option(51, v, b);
            if (network.Options.Hostname is { Length: > 0 and < 256 } name) Option(12, Encoding.ASCII.GetBytes(name), b);
        }
        b[o] = 255;
        Packet.SealTransport(frame, 6);
        network.Emit(frame);
    }
}
