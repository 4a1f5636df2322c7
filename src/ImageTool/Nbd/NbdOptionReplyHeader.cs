using System.Buffers.Binary;

namespace ImageTool.Nbd;

/// <summary>A fixed-newstyle option reply: magic, option, reply type, data length (20 bytes), then the data.</summary>
internal readonly record struct NbdOptionReplyHeader(ulong Magic, NbdOption Option, NbdReplyType Type, uint Length)
{
    public const int Size = 20;

    public bool IsError => ((uint)Type & 0x80000000) != 0;

    public static NbdOptionReplyHeader Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt64BigEndian(b),
        (NbdOption)BinaryPrimitives.ReadUInt32BigEndian(b[8..]),
        (NbdReplyType)BinaryPrimitives.ReadUInt32BigEndian(b[12..]),
        BinaryPrimitives.ReadUInt32BigEndian(b[16..]));

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt64BigEndian(b, Magic);
        BinaryPrimitives.WriteUInt32BigEndian(b[8..], (uint)Option);
        BinaryPrimitives.WriteUInt32BigEndian(b[12..], (uint)Type);
        BinaryPrimitives.WriteUInt32BigEndian(b[16..], Length);
    }
}
