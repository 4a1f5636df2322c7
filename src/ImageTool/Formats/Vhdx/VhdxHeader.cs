using System.Buffers.Binary;

namespace ImageTool.Formats.Vhdx;

/// <summary>
/// One of the two 4 KiB headers ([MS-VHDX] 2.2.2), little-endian, CRC-32C over the whole 4 KiB. The valid one
/// with the larger sequence number is current; updates go to the other one.
/// </summary>
internal readonly record struct VhdxHeader(
    ulong SequenceNumber, Guid FileWriteGuid, Guid DataWriteGuid, Guid LogGuid, ushort LogVersion, ushort Version,
    uint LogLength, ulong LogOffset)
{
    public const int Size = 4096;
    public const long Offset1 = 64 << 10;
    public const long Offset2 = 128 << 10;
    private const uint Signature = 0x64616568; // "head"

    /// <summary>Decodes a header whose signature, checksum and version are right; null otherwise (qemu: not valid).</summary>
    public static VhdxHeader? TryRead(ReadOnlySpan<byte> b)
    {
        if (BinaryPrimitives.ReadUInt32LittleEndian(b) != Signature || !VhdxCrc32C.IsValid(b[..Size], 4)) return null;
        var header = new VhdxHeader(BinaryPrimitives.ReadUInt64LittleEndian(b[8..]), new Guid(b.Slice(16, 16)),
            new Guid(b.Slice(32, 16)), new Guid(b.Slice(48, 16)), BinaryPrimitives.ReadUInt16LittleEndian(b[64..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[66..]), BinaryPrimitives.ReadUInt32LittleEndian(b[68..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[72..]));
        return header.Version == 1 ? header : null;
    }

    /// <summary>Writes the 4 KiB header with its checksum.</summary>
    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(b, Signature);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], SequenceNumber);
        FileWriteGuid.TryWriteBytes(b[16..]);
        DataWriteGuid.TryWriteBytes(b[32..]);
        LogGuid.TryWriteBytes(b[48..]);
        BinaryPrimitives.WriteUInt16LittleEndian(b[64..], LogVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(b[66..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(b[68..], LogLength);
        BinaryPrimitives.WriteUInt64LittleEndian(b[72..], LogOffset);
        VhdxCrc32C.Seal(b[..Size], 4);
    }
}
