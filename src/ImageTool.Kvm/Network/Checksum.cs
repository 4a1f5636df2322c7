using System.Buffers.Binary;

namespace ImageTool.Kvm.Network;

/// <summary>The Internet checksum (RFC 1071) and the TCP/UDP pseudo-header sum.</summary>
internal static class Checksum
{
    public static uint Add(uint sum, ReadOnlySpan<byte> data)
    {
        int i = 0;
        for (; i + 1 < data.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        if (i < data.Length) sum += (uint)data[i] << 8;
        return sum;
    }

    public static ushort Finish(uint sum)
    {
        while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    public static ushort Compute(ReadOnlySpan<byte> data) => Finish(Add(0, data));

    /// <summary>Checksum of a TCP or UDP segment over the IPv4 pseudo-header.</summary>
    public static ushort Transport(uint source, uint destination, byte protocol, ReadOnlySpan<byte> segment)
    {
        uint sum = (source >> 16) + (source & 0xFFFF) + (destination >> 16) + (destination & 0xFFFF) + protocol + (uint)segment.Length;
        return Finish(Add(sum, segment));
    }
}
