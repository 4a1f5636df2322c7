using System.Buffers.Binary;

namespace ImageTool.Nbd;

/// <summary>A handshake option sent by the client: IHAVEOPT, option, data length (16 bytes), then the data.</summary>
internal readonly record struct NbdOptionHeader(ulong Magic, NbdOption Option, uint Length)
{
    public const int Size = 16;

    public static NbdOptionHeader Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt64BigEndian(b),
        (NbdOption)BinaryPrimitives.ReadUInt32BigEndian(b[8..]),
        BinaryPrimitives.ReadUInt32BigEndian(b[12..]));

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt64BigEndian(b, Magic);
        BinaryPrimitives.WriteUInt32BigEndian(b[8..], (uint)Option);
        BinaryPrimitives.WriteUInt32BigEndian(b[12..], Length);
    }
}
