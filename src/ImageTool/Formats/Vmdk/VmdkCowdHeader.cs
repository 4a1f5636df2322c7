using System.Buffers.Binary;

namespace ImageTool.Formats.Vmdk;

/// <summary>The VMFS sparse ("COWD", VMDK 3) extent header qemu still reads. Little-endian, after the magic.</summary>
internal readonly record struct VmdkCowdHeader(
    uint Version, uint Flags, uint DiskSectors, uint Granularity, uint GdOffset, uint GdEntries, uint FileSectors)
{
    public const uint Magic = 0x434F5744; // "COWD" read big-endian
    public const int Size = 4 + 40;

    /// <summary>A COWD grain table always has 4096 entries.</summary>
    public const int GtesPerGt = 4096;

    public static bool HasMagic(ReadOnlySpan<byte> b) => b.Length >= 4 && BinaryPrimitives.ReadUInt32BigEndian(b) == Magic;

    public static VmdkCowdHeader Read(ReadOnlySpan<byte> b) => new(
        U32(b, 4), U32(b, 8), U32(b, 12), U32(b, 16), U32(b, 20), U32(b, 24), U32(b, 28));

    private static uint U32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32LittleEndian(b[at..]);
}
