using System.Buffers.Binary;
using System.Text;

namespace ImageTool.Formats.Cow;

/// <summary>
/// The User-Mode Linux COW header (arch/um/drivers/cow_user.c), all versions decoded into one shape.
/// v1: host-endian (little-endian on x86), 256-byte path, bitmap right after the 280-byte header.
/// v2: big-endian, 4096-byte path, 4120-byte header. v3: big-endian, packed 4128 bytes with the path
/// last; old 64-bit builds wrote it unpacked (4136 bytes, 8-byte mtime), detectable by four zero bytes
/// where the packed path begins. v1/v2 round the bitmap length down (the historic bug), v3 up.
/// </summary>
internal readonly record struct CowHeader(
    uint Version, string BackingFile, uint Mtime, ulong Size, uint SectorSize, uint Alignment, uint CowFormat,
    int HeaderSize)
{
    public const uint Magic = 0x4F4F4F4D;
    public const int V1Size = 280;
    public const int V2Size = 4120;
    public const int V3Size = 4128;
    public const int V3BrokenSize = 4136;
    public const int PathLengthV1 = 256;
    public const int PathLengthV3 = 4096;

    /// <summary>UML writes 512-byte sectors aligned to the page size.</summary>
    public const uint DefaultSectorSize = 512;
    public const uint DefaultAlignment = 4096;

    /// <summary>Bytes to read to decode any version (the broken v3 layout is the longest).</summary>
    public const int MaxSize = V3BrokenSize;

    public long BitmapOffset => Version < 3 ? HeaderSize : RoundUp(HeaderSize, Alignment);

    public long BitmapLength => Version < 3
        ? (long)((Size + SectorSize - 1) / (8UL * SectorSize))
        : (long)((Size + SectorSize - 1) / SectorSize + 7) / 8;

    public long DataOffset => RoundUp(BitmapOffset + BitmapLength, Version < 3 ? SectorSize : Alignment);

    /// <summary>Sectors the bitmap covers (fewer than the disk holds in v1/v2 files when the size is not a multiple of 4 KiB).</summary>
    public long BitmapSectors => BitmapLength * 8;

    private static long RoundUp(long value, uint align) => (value + align - 1) / align * align;

    /// <summary>True when the first bytes carry the COW magic in either byte order.</summary>
    public static bool HasMagic(ReadOnlySpan<byte> b) =>
        b.Length >= 8 && (BinaryPrimitives.ReadUInt32BigEndian(b) == Magic || BinaryPrimitives.ReadUInt32LittleEndian(b) == Magic);

    /// <summary>The version as UML decodes it: host-endian when the magic is, else big-endian.</summary>
    public static uint ReadVersion(ReadOnlySpan<byte> b) => BinaryPrimitives.ReadUInt32LittleEndian(b) == Magic
        ? BinaryPrimitives.ReadUInt32LittleEndian(b[4..])
        : BinaryPrimitives.ReadUInt32BigEndian(b[4..]);

    /// <summary>Decodes a header; <paramref name="b"/> holds what the file has of its first <see cref="MaxSize"/> bytes.</summary>
    public static CowHeader Read(ReadOnlySpan<byte> b)
    {
        if (!HasMagic(b)) throw new ImageFormatException("Image is not in cow format");
        uint version = ReadVersion(b);
        switch (version)
        {
            case 1:
                RequireLength(b, V1Size, version);
                return new(1, CString(b.Slice(8, PathLengthV1)), Le32(b, 264), BinaryPrimitives.ReadUInt64LittleEndian(b[268..]),
                    Le32(b, 276), Le32(b, 276), 0, V1Size);
            case 2:
                RequireLength(b, V2Size, version);
                return new(2, CString(b.Slice(8, PathLengthV3)), Be32(b, 4104), Be64(b, 4108), Be32(b, 4116), Be32(b, 4116), 0, V2Size);
            // UML's test is the four zero bytes alone; a packed header without a backing file (ours, from
            // convert -O cow) has them too, but read as the broken layout it would have alignment 0.
            case 3 when b.Length >= 36 && (Be32(b, 32) != 0 || Be32(b, 28) == 0):
                RequireLength(b, V3Size, version);
                return new(3, CString(b.Slice(32, PathLengthV3)), Be32(b, 8), Be64(b, 12), Be32(b, 20), Be32(b, 24), Be32(b, 28), V3Size);
            case 3:
                // Unpacked 64-bit layout: UML takes the first four bytes of the 8-byte mtime, big-endian.
                RequireLength(b, V3BrokenSize, version);
                return new(3, CString(b.Slice(36, PathLengthV3)), Be32(b, 8), Be64(b, 16), Be32(b, 24), Be32(b, 28), Be32(b, 32), V3BrokenSize);
            default:
                throw new UnsupportedFeatureException($"Unsupported cow version {version}");
        }
    }

    /// <summary>Writes a packed big-endian version 3 header (<see cref="V3Size"/> bytes).</summary>
    public void WriteV3(Span<byte> b)
    {
        b[..V3Size].Clear();
        BinaryPrimitives.WriteUInt32BigEndian(b, Magic);
        BinaryPrimitives.WriteUInt32BigEndian(b[4..], 3);
        BinaryPrimitives.WriteUInt32BigEndian(b[8..], Mtime);
        BinaryPrimitives.WriteUInt64BigEndian(b[12..], Size);
        BinaryPrimitives.WriteUInt32BigEndian(b[20..], SectorSize);
        BinaryPrimitives.WriteUInt32BigEndian(b[24..], Alignment);
        BinaryPrimitives.WriteUInt32BigEndian(b[28..], CowFormat);
        Encoding.UTF8.GetBytes(BackingFile, b.Slice(32, PathLengthV3 - 1));
    }

    /// <summary>Sanity limits UML never checks: a sector size we can address, an alignment, a bitmap inside the file.</summary>
    public void Validate(long fileLength)
    {
        if (CowFormat != 0) throw new UnsupportedFeatureException($"Unsupported cow format {CowFormat} (only the bitmap format 0 exists)");
        if (SectorSize < 512 || SectorSize > 65536 || (SectorSize & (SectorSize - 1)) != 0)
            throw new ImageCorruptException($"Invalid cow sector size {SectorSize} (must be a power of two from 512 to 65536)");
        if (Alignment == 0 || Alignment > (1u << 20))
            throw new ImageCorruptException($"Invalid cow alignment {Alignment}");
        if (Size > (1UL << 56)) throw new ImageCorruptException($"Invalid cow image size {Size}");
        if (BitmapOffset + BitmapLength > fileLength)
            throw new ImageCorruptException(
                $"cow bitmap ({BitmapLength} bytes at offset {BitmapOffset}) does not fit in the file ({fileLength} bytes)");
    }

    private static void RequireLength(ReadOnlySpan<byte> b, int size, uint version)
    {
        if (b.Length < size) throw new ImageCorruptException($"cow version {version} header is truncated ({b.Length} of {size} bytes)");
    }

    private static string CString(ReadOnlySpan<byte> b)
    {
        int end = b.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? b : b[..end]);
    }

    private static uint Le32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32LittleEndian(b[at..]);
    private static uint Be32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32BigEndian(b[at..]);
    private static ulong Be64(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt64BigEndian(b[at..]);
}
