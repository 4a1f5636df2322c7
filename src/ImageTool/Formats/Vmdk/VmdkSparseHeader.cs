using System.Buffers.Binary;

namespace ImageTool.Formats.Vmdk;

/// <summary>
/// The hosted sparse extent header ("KDMV", VMware Virtual Disk Format 1.1 §"Hosted Sparse Extent Header"):
/// sector 0 of a monolithicSparse, split sparse or streamOptimized extent. Little-endian.
/// </summary>
internal readonly record struct VmdkSparseHeader(
    uint Version, uint Flags, ulong Capacity, ulong GrainSize, ulong DescriptorOffset, ulong DescriptorSize,
    uint GtesPerGt, ulong RgdOffset, ulong GdOffset, ulong OverHead, byte UncleanShutdown, ushort CompressAlgorithm)
{
    public const int Size = 512;
    public const uint Magic = 0x4B444D56; // "KDMV" read big-endian, as qemu compares it

    public const uint FlagNewlineDetect = 1 << 0;
    public const uint FlagRedundantGd = 1 << 1;
    public const uint FlagZeroGrain = 1 << 2;
    public const uint FlagCompressed = 1 << 16;
    public const uint FlagMarkers = 1 << 17;
    public const ushort CompressionDeflate = 1;
    public const ulong GdAtEnd = ulong.MaxValue;

    public bool IsCompressed => CompressAlgorithm == CompressionDeflate;

    public static bool HasMagic(ReadOnlySpan<byte> b) => b.Length >= 4 && BinaryPrimitives.ReadUInt32BigEndian(b) == Magic;

    /// <summary>Decodes the fields after the magic (the caller checked the magic).</summary>
    public static VmdkSparseHeader Read(ReadOnlySpan<byte> b) => new(
        U32(b, 4), U32(b, 8), U64(b, 12), U64(b, 20), U64(b, 28), U64(b, 36),
        U32(b, 44), U64(b, 48), U64(b, 56), U64(b, 64), b[72], BinaryPrimitives.ReadUInt16LittleEndian(b[77..]));

    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        BinaryPrimitives.WriteUInt32BigEndian(b, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], Flags);
        BinaryPrimitives.WriteUInt64LittleEndian(b[12..], Capacity);
        BinaryPrimitives.WriteUInt64LittleEndian(b[20..], GrainSize);
        BinaryPrimitives.WriteUInt64LittleEndian(b[28..], DescriptorOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(b[36..], DescriptorSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[44..], GtesPerGt);
        BinaryPrimitives.WriteUInt64LittleEndian(b[48..], RgdOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(b[56..], GdOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(b[64..], OverHead);
        b[72] = UncleanShutdown;
        // The newline-detection bytes VMware uses to spot text-mode transfers.
        b[73] = 0x0A;
        b[74] = 0x20;
        b[75] = 0x0D;
        b[76] = 0x0A;
        BinaryPrimitives.WriteUInt16LittleEndian(b[77..], CompressAlgorithm);
    }

    private static uint U32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32LittleEndian(b[at..]);
    private static ulong U64(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt64LittleEndian(b[at..]);
}
