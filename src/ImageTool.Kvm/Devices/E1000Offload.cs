using System.Buffers.Binary;
using ImageTool.Kvm.Network;

namespace ImageTool.Kvm.Devices;

/// <summary>
/// The 8254x transmit offloads Linux's e1000 driver uses (NETWORK.md §2.2): checksum insertion at IPCSO/TUCSO
/// over IPCSS..IPCSE / TUCSS..TUCSE (the driver seeds the TCP/UDP field with the pseudo-header sum), and TCP
/// segmentation (TSE): the HDRLEN-byte header copied before each MSS-sized piece, IP length and id, TCP sequence,
/// FIN/PSH (last piece only) and both checksums fixed per segment.
/// </summary>
internal sealed record E1000Context(int IpCss, int IpCso, int IpCse, int TuCss, int TuCso, int TuCse, bool Tcp, int HdrLen, int Mss)
{
    public static E1000Context Read(ReadOnlySpan<byte> d) => new(
        d[0], d[1], BinaryPrimitives.ReadUInt16LittleEndian(d[2..]),
        d[4], d[5], BinaryPrimitives.ReadUInt16LittleEndian(d[6..]),
        (d[11] & 1) != 0, d[13], BinaryPrimitives.ReadUInt16LittleEndian(d[14..]));

    /// <summary>Inserts the checksums the data descriptors asked for (IXSM: IP, TXSM: TCP/UDP).</summary>
    public void Checksum(Span<byte> frame, bool ip, bool transport, int seedExtra = 0)
    {
        if (ip && IpCso + 2 <= frame.Length && IpCss < frame.Length)
        {
            int end = IpCse == 0 ? frame.Length : Math.Min(IpCse + 1, frame.Length);
            BinaryPrimitives.WriteUInt16BigEndian(frame[IpCso..], 0);
            if (end > IpCss) BinaryPrimitives.WriteUInt16BigEndian(frame[IpCso..], Network.Checksum.Compute(frame[IpCss..end]));
        }
        if (transport && TuCso + 2 <= frame.Length && TuCss < frame.Length)
        {
            int end = TuCse == 0 ? frame.Length : Math.Min(TuCse + 1, frame.Length);
            if (end <= TuCss) return;
            ushort sum = Network.Checksum.Finish(Network.Checksum.Add((uint)seedExtra, frame[TuCss..end]));
            if (sum == 0 && !Tcp) sum = 0xFFFF;
            BinaryPrimitives.WriteUInt16BigEndian(frame[TuCso..], sum);
        }
    }

    /// <summary>Cuts a TSE packet into frames.</summary>
    public IEnumerable<byte[]> Segment(byte[] packet, bool ip, bool transport)
    {
        int header = Math.Min(HdrLen, packet.Length);
        int mss = Math.Max(Mss, 64);
        int payload = packet.Length - header;
        uint sequence = Tcp && TuCss + 8 <= header ? BinaryPrimitives.ReadUInt32BigEndian(packet.AsSpan(TuCss + 4)) : 0;
        ushort id = IpCss + 6 <= header ? BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(IpCss + 4)) : (ushort)0;
        byte flags = Tcp && TuCss + 14 <= header ? packet[TuCss + 13] : (byte)0;
        int offset = 0, index = 0;
        do
        {
            int n = Math.Min(mss, payload - offset);
            var frame = new byte[header + n];
            packet.AsSpan(0, header).CopyTo(frame);
            packet.AsSpan(header + offset, n).CopyTo(frame.AsSpan(header));
            bool last = offset + n >= payload;
            if (IpCss + 6 <= header)
            {
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(IpCss + 2), (ushort)(frame.Length - IpCss));
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(IpCss + 4), (ushort)(id + index));
            }
            int l4 = frame.Length - TuCss;
            if (Tcp && TuCss + 14 <= header)
            {
                BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(TuCss + 4), sequence + (uint)offset);
                if (!last) frame[TuCss + 13] = (byte)(flags & ~0x09); // FIN and PSH only on the last segment
            }
            else if (!Tcp && TuCss + 6 <= header) BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(TuCss + 4), (ushort)l4);
            // The driver's seed is the pseudo-header sum without the length: add this segment's.
            Checksum(frame, ip, transport, seedExtra: l4);
            yield return frame;
            offset += n;
            index++;
        }
        while (offset < payload);
    }
}
