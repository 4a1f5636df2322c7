using System.Buffers.Binary;

namespace ImageTool.Formats.Qcow;

/// <summary>The 48-byte big-endian qcow (version 1) header (qemu block/qcow.c, FORMATS.md Part A §8).</summary>
internal readonly record struct QcowHeader(
    uint Magic, uint Version, ulong BackingFileOffset, uint BackingFileSize, uint Mtime, ulong VirtualSize,
    byte ClusterBits, byte L2Bits, uint CryptMethod, ulong L1TableOffset)
{
    public const uint ExpectedMagic = 0x514649FB; // "QFI\xfb"
    public const int Size = 48;
    public const uint CryptNone = 0;
    public const uint CryptAes = 1;
    public const int MaxBackingNameLength = 1023;

    public static QcowHeader Read(ReadOnlySpan<byte> b) => new(
        Be32(b, 0), Be32(b, 4), Be64(b, 8), Be32(b, 16), Be32(b, 20), Be64(b, 24), b[32], b[33], Be32(b, 36), Be64(b, 40));

    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        BinaryPrimitives.WriteUInt32BigEndian(b, Magic);
        BinaryPrimitives.WriteUInt32BigEndian(b[4..], Version);
        BinaryPrimitives.WriteUInt64BigEndian(b[8..], BackingFileOffset);
        BinaryPrimitives.WriteUInt32BigEndian(b[16..], BackingFileSize);
        BinaryPrimitives.WriteUInt32BigEndian(b[20..], Mtime);
        BinaryPrimitives.WriteUInt64BigEndian(b[24..], VirtualSize);
        b[32] = ClusterBits;
        b[33] = L2Bits;
        BinaryPrimitives.WriteUInt32BigEndian(b[36..], CryptMethod);
        BinaryPrimitives.WriteUInt64BigEndian(b[40..], L1TableOffset);
    }

    public int ClusterSize => 1 << ClusterBits;
    public int L2Entries => 1 << L2Bits;

    /// <summary>Entries of the L1 table: one per 2^(cluster_bits + l2_bits) bytes of disk.</summary>
    public long L1Entries => (long)((VirtualSize + (1UL << (ClusterBits + L2Bits)) - 1) >> (ClusterBits + L2Bits));

    /// <summary>qemu's checks, order and wording (qcow_open), then ours: the tables must lie inside the file.</summary>
    public void Validate(long fileLength)
    {
        if (Magic != ExpectedMagic) throw new ImageFormatException("Image not in qcow format");
        if (Version != 1) throw new UnsupportedFeatureException($"Unsupported qcow version {Version}");
        if (VirtualSize <= 1) throw new ImageFormatException("Image size is too small (must be at least 2 bytes)");
        if (ClusterBits is < 9 or > 16) throw new ImageFormatException("Cluster size must be between 512 and 64k");
        if (L2Bits is < 9 - 3 or > 16 - 3) throw new ImageFormatException("L2 table size must be between 512 and 64k");
        if (CryptMethod > CryptAes) throw new ImageFormatException("invalid encryption method in qcow header");
        if (VirtualSize > ulong.MaxValue - (1UL << (ClusterBits + L2Bits)) || L1Entries > int.MaxValue / 8)
            throw new ImageFormatException("Image too large");
        if (L1TableOffset > (ulong)fileLength || (ulong)(L1Entries * 8) > (ulong)fileLength - L1TableOffset)
            throw new ImageCorruptException(
                $"L1 table ({L1Entries} entries at offset {L1TableOffset}) does not fit in the file ({fileLength} bytes)");
        if (BackingFileOffset != 0)
        {
            if (BackingFileSize > MaxBackingNameLength) throw new ImageFormatException("Backing file name too long");
            if (BackingFileOffset > (ulong)fileLength || BackingFileSize > (ulong)fileLength - BackingFileOffset)
                throw new ImageCorruptException($"Backing file name at offset {BackingFileOffset} (+{BackingFileSize}) lies beyond the end of the file");
        }
    }

    private static uint Be32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32BigEndian(b[at..]);
    private static ulong Be64(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt64BigEndian(b[at..]);
}
