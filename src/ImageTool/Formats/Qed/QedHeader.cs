using System.Buffers.Binary;

namespace ImageTool.Formats.Qed;

/// <summary>The QED header (qemu docs/interop/qed_spec.txt), 64 bytes, little-endian.</summary>
internal readonly record struct QedHeader(
    uint Magic, uint ClusterSize, uint TableSize, uint HeaderSize, ulong Features, ulong CompatFeatures,
    ulong AutoclearFeatures, ulong L1TableOffset, ulong ImageSize, uint BackingFilenameOffset, uint BackingFilenameSize)
{
    public const int Size = 64;
    public const uint ExpectedMagic = 0x00444551; // "QED\0"

    public const ulong FeatureBackingFile = 1;
    public const ulong FeatureNeedCheck = 2;
    public const ulong FeatureBackingFormatNoProbe = 4;
    public const ulong KnownFeatures = FeatureBackingFile | FeatureNeedCheck | FeatureBackingFormatNoProbe;

    public const uint MinClusterSize = 4096;
    public const uint MaxClusterSize = 64 << 20;
    public const uint DefaultClusterSize = 64 << 10;
    public const uint MinTableSize = 1;
    public const uint MaxTableSize = 16;
    public const uint DefaultTableSize = 4;

    /// <summary>qemu's backing_file buffer (PATH_MAX): longer names fail to read.</summary>
    public const int MaxBackingNameLength = 4095;

    public static QedHeader Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(b),
        BinaryPrimitives.ReadUInt32LittleEndian(b[4..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[8..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[12..]),
        BinaryPrimitives.ReadUInt64LittleEndian(b[16..]),
        BinaryPrimitives.ReadUInt64LittleEndian(b[24..]),
        BinaryPrimitives.ReadUInt64LittleEndian(b[32..]),
        BinaryPrimitives.ReadUInt64LittleEndian(b[40..]),
        BinaryPrimitives.ReadUInt64LittleEndian(b[48..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[56..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[60..]));

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], ClusterSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], TableSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], HeaderSize);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], Features);
        BinaryPrimitives.WriteUInt64LittleEndian(b[24..], CompatFeatures);
        BinaryPrimitives.WriteUInt64LittleEndian(b[32..], AutoclearFeatures);
        BinaryPrimitives.WriteUInt64LittleEndian(b[40..], L1TableOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(b[48..], ImageSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[56..], BackingFilenameOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(b[60..], BackingFilenameSize);
    }

    public static bool IsClusterSizeValid(uint size) =>
        size is >= MinClusterSize and <= MaxClusterSize && (size & (size - 1)) == 0;

    public static bool IsTableSizeValid(uint size) =>
        size is >= MinTableSize and <= MaxTableSize && (size & (size - 1)) == 0;

    /// <summary>qemu's qed_max_image_size, computed in 32/64-bit unsigned arithmetic as qemu does (64 MiB clusters wrap to 0).</summary>
    public static ulong MaxImageSize(uint clusterSize, uint tableSize)
    {
        ulong entries = (uint)(tableSize * clusterSize) / 8UL;
        ulong l2Size = unchecked(entries * clusterSize);
        return unchecked(l2Size * entries);
    }

    public static bool IsImageSizeValid(ulong size, uint clusterSize, uint tableSize) =>
        size % 512 == 0 && size <= MaxImageSize(clusterSize, tableSize);

    public int TableEntries => (int)((ulong)ClusterSize * TableSize / 8);
    public long TableBytes => (long)ClusterSize * TableSize;
    public bool HasBackingFile => (Features & FeatureBackingFile) != 0;
    public bool NeedsCheck => (Features & FeatureNeedCheck) != 0;

    /// <summary>qemu's bdrv_qed_open checks, in its order and words; <paramref name="fileSize"/> is rounded down to a cluster.</summary>
    public void Validate(ulong fileSize)
    {
        if (Magic != ExpectedMagic) throw new ImageFormatException("Image not in QED format");
        if ((Features & ~KnownFeatures) != 0)
            throw new UnsupportedFeatureException($"Unsupported QED features: {Features & ~KnownFeatures:x}");
        if (!IsClusterSizeValid(ClusterSize)) throw new ImageCorruptException("QED cluster size is invalid");
        if (!IsTableSizeValid(TableSize)) throw new ImageCorruptException("QED table size is invalid");
        if (!IsImageSizeValid(ImageSize, ClusterSize, TableSize)) throw new ImageCorruptException("QED image size is invalid");
        if (!IsTableOffsetValid(L1TableOffset, fileSize)) throw new ImageCorruptException("QED table offset is invalid");
        if (HasBackingFile)
        {
            if ((ulong)BackingFilenameOffset + BackingFilenameSize > (ulong)ClusterSize * HeaderSize)
                throw new ImageCorruptException("QED backing filename offset is invalid");
            if (BackingFilenameSize > MaxBackingNameLength) throw new ImageCorruptException("Failed to read backing filename");
        }
    }

    /// <summary>qemu's qed_check_cluster_offset: cluster aligned, past the header, inside the file.</summary>
    public bool IsClusterOffsetValid(ulong offset, ulong fileSize) =>
        (offset & (ClusterSize - 1)) == 0 && offset >= (ulong)HeaderSize * ClusterSize && offset < fileSize;

    /// <summary>
    /// qemu's qed_check_table_offset: first and last cluster valid. Its overflow test (end &lt;= start) also
    /// rejects every table of one cluster, so qemu cannot open the table_size=1 images it creates; nor can we.
    /// </summary>
    public bool IsTableOffsetValid(ulong offset, ulong fileSize)
    {
        ulong end = unchecked(offset + (uint)((TableSize - 1) * ClusterSize));
        return end > offset && IsClusterOffsetValid(offset, fileSize) && IsClusterOffsetValid(end, fileSize);
    }
}
