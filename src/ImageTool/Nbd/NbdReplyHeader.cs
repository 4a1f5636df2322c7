using System.Buffers.Binary;

namespace ImageTool.Nbd;

/// <summary>
/// The start of every transmission reply: a simple reply (magic, error, cookie: 16 bytes) or a structured
/// reply chunk (magic, flags, type, cookie, payload length: 20 bytes). Both share magic and cookie positions
/// except that the simple reply puts the error where the chunk puts flags and type.
/// </summary>
internal readonly record struct NbdReplyHeader(uint Magic, uint Error, NbdChunkFlags Flags, NbdChunkType Type, ulong Cookie, uint Length)
{
    public const int SimpleSize = 16;
    public const int StructuredSize = 20;

    public bool IsStructured => Magic == NbdConstants.StructuredReplyMagic;

    /// <summary>Decodes the first 16 bytes; a structured chunk then needs <see cref="WithLength"/> on the last 4.</summary>
    public static NbdReplyHeader ReadStart(ReadOnlySpan<byte> b)
    {
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(b);
        uint second = BinaryPrimitives.ReadUInt32BigEndian(b[4..]);
        ulong cookie = BinaryPrimitives.ReadUInt64BigEndian(b[8..]);
        return magic == NbdConstants.StructuredReplyMagic
            ? new(magic, 0, (NbdChunkFlags)(second >> 16), (NbdChunkType)(second & 0xffff), cookie, 0)
            : new(magic, second, NbdChunkFlags.Done, NbdChunkType.None, cookie, 0);
    }

    public NbdReplyHeader WithLength(ReadOnlySpan<byte> b) => this with { Length = BinaryPrimitives.ReadUInt32BigEndian(b) };

    public static void WriteSimple(Span<byte> b, uint error, ulong cookie)
    {
        BinaryPrimitives.WriteUInt32BigEndian(b, NbdConstants.SimpleReplyMagic);
        BinaryPrimitives.WriteUInt32BigEndian(b[4..], error);
        BinaryPrimitives.WriteUInt64BigEndian(b[8..], cookie);
    }

    public static void WriteStructured(Span<byte> b, NbdChunkFlags flags, NbdChunkType type, ulong cookie, uint length)
    {
        BinaryPrimitives.WriteUInt32BigEndian(b, NbdConstants.StructuredReplyMagic);
        BinaryPrimitives.WriteUInt16BigEndian(b[4..], (ushort)flags);
        BinaryPrimitives.WriteUInt16BigEndian(b[6..], (ushort)type);
        BinaryPrimitives.WriteUInt64BigEndian(b[8..], cookie);
        BinaryPrimitives.WriteUInt32BigEndian(b[16..], length);
    }
}
