using System.Buffers.Binary;

namespace ImageTool.Formats.Parallels;

/// <summary>The Parallels (ploop) header (qemu docs/interop/parallels.txt), 64 bytes, little-endian, followed by the BAT.</summary>
internal readonly record struct ParallelsHeader(
    bool ExtendedMagic, uint Version, uint Heads, uint Cylinders, uint Tracks, uint BatEntries, ulong Sectors,
    uint InUse, uint DataOffset, uint Flags, ulong ExtensionOffset)
{
    public const int Size = 64;
    public const uint ExpectedVersion = 2;

    /// <summary>Written as "inuse" while an image is open read-write ("Ynot").</summary>
    public const uint InUseMagic = 0x746F6E59;
    public const uint HeadsNumber = 16;
    public const uint SectorsPerCylinder = 32;
    public const uint DefaultClusterSize = 1 << 20;

    /// <summary>qemu's MAX_PARALLELS_IMAGE_FACTOR: at most 2^32 clusters.</summary>
    public const ulong MaxImageFactor = 1UL << 32;

    /// <summary>The old format: BAT entries are sector numbers.</summary>
    public static ReadOnlySpan<byte> Magic => "WithoutFreeSpace"u8;

    /// <summary>The current format: BAT entries are cluster numbers.</summary>
    public static ReadOnlySpan<byte> ExtendedMagicBytes => "WithouFreSpacExt"u8;

    public static bool HasMagic(ReadOnlySpan<byte> b) =>
        b.Length >= 16 && (b[..16].SequenceEqual(Magic) || b[..16].SequenceEqual(ExtendedMagicBytes));

    /// <summary>Decodes a header; the caller checks <see cref="HasMagic"/> first.</summary>
    public static ParallelsHeader Read(ReadOnlySpan<byte> b) => new(
        b[..16].SequenceEqual(ExtendedMagicBytes),
        BinaryPrimitives.ReadUInt32LittleEndian(b[16..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[20..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[24..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[28..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[32..]),
        BinaryPrimitives.ReadUInt64LittleEndian(b[36..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[44..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[48..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[52..]),
        BinaryPrimitives.ReadUInt64LittleEndian(b[56..]));

    public void Write(Span<byte> b)
    {
        (ExtendedMagic ? ExtendedMagicBytes : Magic).CopyTo(b);
        BinaryPrimitives.WriteUInt32LittleEndian(b[16..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(b[20..], Heads);
        BinaryPrimitives.WriteUInt32LittleEndian(b[24..], Cylinders);
        BinaryPrimitives.WriteUInt32LittleEndian(b[28..], Tracks);
        BinaryPrimitives.WriteUInt32LittleEndian(b[32..], BatEntries);
        BinaryPrimitives.WriteUInt64LittleEndian(b[36..], Sectors);
        BinaryPrimitives.WriteUInt32LittleEndian(b[44..], InUse);
        BinaryPrimitives.WriteUInt32LittleEndian(b[48..], DataOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(b[52..], Flags);
        BinaryPrimitives.WriteUInt64LittleEndian(b[56..], ExtensionOffset);
    }

    /// <summary>Virtual size in sectors: the old format keeps only the low 32 bits.</summary>
    public ulong VirtualSectors => ExtendedMagic ? Sectors : Sectors & 0xFFFFFFFF;

    /// <summary>Sectors per BAT unit: a cluster in the new format, one sector in the old.</summary>
    public uint OffsetMultiplier => ExtendedMagic ? Tracks : 1;

    /// <summary>qemu's parallels_open checks, in its order and words.</summary>
    public void Validate()
    {
        if (Version != ExpectedVersion) throw new ImageFormatException("Image not in Parallels format");
        if (Tracks == 0) throw new ImageCorruptException("Invalid image: Zero sectors per track");
        if (Tracks > int.MaxValue / 513) throw new ImageCorruptException("Invalid image: Too big cluster");
        if (BatEntries > int.MaxValue / 4) throw new ImageCorruptException("Catalog too large");
        if (VirtualSectors > long.MaxValue / 512) throw new ImageCorruptException("Invalid image: Too big size");
    }
}
