using System.Buffers.Binary;

namespace ImageTool.Nbd;

/// <summary>A transmission-phase request header; a write's payload follows it.</summary>
internal readonly record struct NbdRequest(uint Magic, NbdCommandFlags Flags, NbdCommand Command, ulong Cookie, ulong Offset, uint Length)
{
    public const int Size = 28;

    public static NbdRequest Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt32BigEndian(b),
        (NbdCommandFlags)BinaryPrimitives.ReadUInt16BigEndian(b[4..]),
        (NbdCommand)BinaryPrimitives.ReadUInt16BigEndian(b[6..]),
        BinaryPrimitives.ReadUInt64BigEndian(b[8..]),
        BinaryPrimitives.ReadUInt64BigEndian(b[16..]),
        BinaryPrimitives.ReadUInt32BigEndian(b[24..]));

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32BigEndian(b, Magic);
        BinaryPrimitives.WriteUInt16BigEndian(b[4..], (ushort)Flags);
        BinaryPrimitives.WriteUInt16BigEndian(b[6..], (ushort)Command);
        BinaryPrimitives.WriteUInt64BigEndian(b[8..], Cookie);
        BinaryPrimitives.WriteUInt64BigEndian(b[16..], Offset);
        BinaryPrimitives.WriteUInt32BigEndian(b[24..], Length);
    }
}
