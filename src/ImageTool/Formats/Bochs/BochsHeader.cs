using System.Buffers.Binary;

namespace ImageTool.Formats.Bochs;

/// <summary>
/// The 512-byte header of a Bochs "Redolog" image (little-endian; FORMATS-2.md §7): magic, type and subtype strings, version,
/// header size (where the catalog starts), catalog entries, bitmap and extent sizes, and the disk size, which version 1
/// keeps at 84 and version 2 at 88 (after a timestamp).
/// </summary>
internal readonly record struct BochsHeader(
    bool MagicMatches, uint Version, uint HeaderSize, uint CatalogEntries, uint BitmapSize, uint ExtentSize, ulong DiskSize)
{
    public const int Size = 512;
    public const uint Version1 = 0x00010000;
    public const uint Version2 = 0x00020000;
    /// <summary>qemu's limit (enough for bximage's largest image, ~8 TB): bounds the catalog allocation.</summary>
    public const uint MaxCatalogEntries = 0x100000;
    public const uint MaxExtentSize = 0x800000;
    public const uint Unallocated = 0xFFFFFFFF;

    private static ReadOnlySpan<byte> Magic => "Bochs Virtual HD Image"u8;
    private static ReadOnlySpan<byte> RedologType => "Redolog"u8;
    private static ReadOnlySpan<byte> GrowingType => "Growing"u8;

    /// <summary>qemu's bochs_probe: the three strings exactly (C string compares) and version 1 or 2.</summary>
    public static bool Matches(ReadOnlySpan<byte> b)
    {
        if (b.Length < Size) return false;
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(b[64..]);
        return HasStrings(b) && version is Version1 or Version2;
    }

    private static bool HasStrings(ReadOnlySpan<byte> b) =>
        IsCString(b.Slice(0, 32), Magic) && IsCString(b.Slice(32, 16), RedologType) && IsCString(b.Slice(48, 16), GrowingType);

    private static bool IsCString(ReadOnlySpan<byte> field, ReadOnlySpan<byte> text) =>
        field.StartsWith(text) && field[text.Length] == 0;

    public static BochsHeader Read(ReadOnlySpan<byte> b)
    {
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(b[64..]);
        return new BochsHeader(
            HasStrings(b),
            version,
            BinaryPrimitives.ReadUInt32LittleEndian(b[68..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[72..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[76..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[80..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[(version == Version1 ? 84 : 88)..]));
    }

    /// <summary>Writes a header (tests and tools); version 2 puts a zero timestamp at 84.</summary>
    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        Magic.CopyTo(b);
        RedologType.CopyTo(b[32..]);
        GrowingType.CopyTo(b[48..]);
        BinaryPrimitives.WriteUInt32LittleEndian(b[64..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(b[68..], HeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[72..], CatalogEntries);
        BinaryPrimitives.WriteUInt32LittleEndian(b[76..], BitmapSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[80..], ExtentSize);
        BinaryPrimitives.WriteUInt64LittleEndian(b[(Version == Version1 ? 84 : 88)..], DiskSize);
    }

    /// <summary>The guest size: whole sectors of the disk size, as qemu counts them.</summary>
    public long VirtualSize => (long)(DiskSize / 512) * 512;

    /// <summary>Sectors of one extent's bitmap and data, rounded up as qemu does (in 32-bit arithmetic, so a zero bitmap size wraps).</summary>
    public uint BitmapSectors => unchecked(1 + (BitmapSize - 1) / 512);
    public uint ExtentSectors => unchecked(1 + (ExtentSize - 1) / 512);

    /// <summary>Where extent data starts: after the header and the catalog (qemu keeps it in 32 bits).</summary>
    public uint DataOffset => unchecked(HeaderSize + CatalogEntries * 4);

    /// <summary>qemu's open checks and messages, in its order (the catalog is read between the first and the others).</summary>
    public void ValidateBeforeCatalog()
    {
        if (!MagicMatches || Version is not (Version1 or Version2)) throw new ImageFormatException("Image not in Bochs format");
        if (CatalogEntries > MaxCatalogEntries) throw new ImageFormatException("Catalog size is too large");
    }

    public void ValidateAfterCatalog()
    {
        if (ExtentSize < 512) throw new ImageFormatException("Extent size must be at least 512");
        if ((ExtentSize & (ExtentSize - 1)) != 0) throw new ImageFormatException($"Extent size {ExtentSize} is not a power of two");
        if (ExtentSize > MaxExtentSize) throw new ImageFormatException($"Extent size {ExtentSize} is too large");
        ulong sectorsPerExtent = ExtentSize / 512;
        ulong needed = (DiskSize / 512 + sectorsPerExtent - 1) / sectorsPerExtent;
        if (CatalogEntries < needed) throw new ImageFormatException("Catalog size is too small for this disk size");
    }
}
