using System.Buffers.Binary;

namespace ImageTool.Formats.Vmdk;

/// <summary>
/// streamOptimized markers. A grain marker is <c>u64 lba, u32 size</c> followed by the compressed grain;
/// a metadata marker is one sector <c>u64 sectors, u32 0, u32 type</c>. Little-endian.
/// </summary>
internal static class VmdkMarker
{
    public const int GrainHeaderSize = 12;

    public const uint EndOfStream = 0;
    public const uint GrainTable = 1;
    public const uint GrainDirectory = 2;
    public const uint Footer = 3;

    /// <summary>Size of the footer area qemu reads when gdOffset is "at end": footer marker, header copy, end-of-stream.</summary>
    public const int FooterAreaSize = 3 * 512;

    public static void WriteGrainHeader(Span<byte> b, ulong lba, uint size)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b, lba);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], size);
    }

    public static uint GrainSize(ReadOnlySpan<byte> b) => BinaryPrimitives.ReadUInt32LittleEndian(b[8..]);

    /// <summary>qemu's footer check: footer marker (size 0, type 3), a KDMV header, then an all-zero end-of-stream marker.</summary>
    public static bool IsValidFooterArea(ReadOnlySpan<byte> area) =>
        BinaryPrimitives.ReadUInt32LittleEndian(area[8..]) == 0
        && BinaryPrimitives.ReadUInt32LittleEndian(area[12..]) == Footer
        && VmdkSparseHeader.HasMagic(area[512..])
        && BinaryPrimitives.ReadUInt64LittleEndian(area[1024..]) == 0
        && BinaryPrimitives.ReadUInt32LittleEndian(area[1032..]) == 0
        && BinaryPrimitives.ReadUInt32LittleEndian(area[1036..]) == EndOfStream;

    public static void WriteMetadata(Span<byte> b, ulong sectors, uint type)
    {
        b[..512].Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(b, sectors);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], type);
    }
}
