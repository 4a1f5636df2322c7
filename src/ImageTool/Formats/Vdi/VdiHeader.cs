using System.Buffers.Binary;

namespace ImageTool.Formats.Vdi;

/// <summary>
/// The VirtualBox VDI 1.1 header (VirtualBox VDICore.h; qemu block/vdi.c), little-endian: the 64-byte text,
/// then the pre-header (signature, version) and the 0x180-byte header proper. qemu reads and writes the
/// whole first sector; <see cref="Raw"/> keeps it so a rewrite changes only the fields qemu changes.
/// </summary>
internal readonly record struct VdiHeader(
    uint Signature, uint Version, uint HeaderSize, uint ImageType, uint ImageFlags, uint OffsetBmap, uint OffsetData,
    uint SectorSize, ulong DiskSize, uint BlockSize, uint BlockExtra, uint BlocksInImage, uint BlocksAllocated,
    bool HasLinkUuid, bool HasParentUuid, byte[] Raw)
{
    /// <summary>qemu reads and writes sizeof(VdiHeader): one sector.</summary>
    public const int Size = 512;
    public const uint ExpectedSignature = 0xBEDA107F;
    public const uint Version11 = 0x00010001;
    public const uint TypeDynamic = 1;
    public const uint TypeStatic = 2;
    public const uint DefaultBlockSize = 1 << 20;
    public const int SectorBytes = 512;

    /// <summary>A block-map entry of a never written block (reads zeros).</summary>
    public const uint Unallocated = 0xFFFFFFFF;

    /// <summary>A block-map entry of a discarded block (reads zeros).</summary>
    public const uint Discarded = 0xFFFFFFFE;

    /// <summary>qemu 7.2: the block map (4 bytes an entry) stays below INT_MAX bytes, rounded down to a sector.</summary>
    public const uint MaxBlocks = 0x1FFFFF80;
    public const ulong MaxDiskSize = (ulong)MaxBlocks * DefaultBlockSize;

    public const string QemuText = "<<< QEMU VM Virtual Disk Image >>>\n";

    private static class Field
    {
        public const int Text = 0x000;
        public const int Signature = 0x040;
        public const int Version = 0x044;
        public const int HeaderSize = 0x048;
        public const int ImageType = 0x04C;
        public const int ImageFlags = 0x050;
        public const int Description = 0x054;
        public const int OffsetBmap = 0x154;
        public const int OffsetData = 0x158;
        public const int Geometry = 0x15C;
        public const int SectorSize = 0x168;
        public const int DiskSize = 0x170;
        public const int BlockSize = 0x178;
        public const int BlockExtra = 0x17C;
        public const int BlocksInImage = 0x180;
        public const int BlocksAllocated = 0x184;
        public const int UuidImage = 0x188;
        public const int UuidLastSnap = 0x198;
        public const int UuidLink = 0x1A8;
        public const int UuidParent = 0x1B8;
    }

    public static bool HasSignature(ReadOnlySpan<byte> b) =>
        b.Length >= Field.Signature + 4 && BinaryPrimitives.ReadUInt32LittleEndian(b[Field.Signature..]) == ExpectedSignature;

    public static VdiHeader Read(ReadOnlySpan<byte> b) => new(
        Le32(b, Field.Signature), Le32(b, Field.Version), Le32(b, Field.HeaderSize), Le32(b, Field.ImageType),
        Le32(b, Field.ImageFlags), Le32(b, Field.OffsetBmap), Le32(b, Field.OffsetData), Le32(b, Field.SectorSize),
        BinaryPrimitives.ReadUInt64LittleEndian(b[Field.DiskSize..]), Le32(b, Field.BlockSize), Le32(b, Field.BlockExtra),
        Le32(b, Field.BlocksInImage), Le32(b, Field.BlocksAllocated),
        b.Slice(Field.UuidLink, 16).ContainsAnyExcept((byte)0), b.Slice(Field.UuidParent, 16).ContainsAnyExcept((byte)0),
        b[..Size].ToArray());

    /// <summary>qemu's vdi_co_do_create header: its text, version 1.1, map at 0x200, random image and snapshot UUIDs.</summary>
    public static byte[] ForCreate(uint imageType, ulong diskSize, uint blocks, uint bmapBytes)
    {
        var b = new byte[Size];
        System.Text.Encoding.ASCII.GetBytes(QemuText, b.AsSpan(Field.Text));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(Field.Signature), ExpectedSignature);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(Field.Version), Version11);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(Field.HeaderSize), 0x180);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(Field.ImageType), imageType);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(Field.OffsetBmap), 0x200);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(Field.OffsetData), 0x200 + bmapBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(Field.SectorSize), SectorBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(Field.DiskSize), diskSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(Field.BlockSize), DefaultBlockSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(Field.BlocksInImage), blocks);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(Field.BlocksAllocated), imageType == TypeStatic ? blocks : 0);
        // Random (version 4) UUIDs, stored in VirtualBox's mixed-endian order, which is Guid's byte order.
        Guid.NewGuid().TryWriteBytes(b.AsSpan(Field.UuidImage));
        Guid.NewGuid().TryWriteBytes(b.AsSpan(Field.UuidLastSnap));
        return b;
    }

    /// <summary>The sector qemu writes back after allocations: as read, with the (rounded) disk size and allocation count.</summary>
    public void WriteUpdated(Span<byte> b, ulong diskSize, uint blocksAllocated)
    {
        Raw.CopyTo(b);
        BinaryPrimitives.WriteUInt64LittleEndian(b[Field.DiskSize..], diskSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[Field.BlocksAllocated..], blocksAllocated);
    }

    /// <summary>The header after a resize: a new size, block count and data offset, the rest as read.</summary>
    public VdiHeader Resized(ulong diskSize, uint blocksInImage, uint offsetData, uint blocksAllocated)
    {
        var raw = (byte[])Raw.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(Field.OffsetData), offsetData);
        BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(Field.DiskSize), diskSize);
        BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(Field.BlocksInImage), blocksInImage);
        BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(Field.BlocksAllocated), blocksAllocated);
        return Read(raw);
    }

    /// <summary>qemu's vdi_open checks, in its order and words.</summary>
    public void Validate()
    {
        if (DiskSize > MaxDiskSize)
            throw new UnsupportedFeatureException($"Unsupported VDI image size (size is 0x{DiskSize:x}, max supported is 0x{MaxDiskSize:x})");
        ulong diskSize = RoundedDiskSize;
        if (Signature != ExpectedSignature)
            throw new ImageFormatException($"Image not in VDI format (bad signature {Signature:x8})");
        if (Version != Version11)
            throw new UnsupportedFeatureException($"unsupported VDI image (version {Version >> 16}.{Version & 0xffff})");
        if (OffsetBmap % SectorBytes != 0)
            throw new UnsupportedFeatureException($"unsupported VDI image (unaligned block map offset 0x{OffsetBmap:x})");
        if (OffsetData % SectorBytes != 0)
            throw new UnsupportedFeatureException($"unsupported VDI image (unaligned data offset 0x{OffsetData:x})");
        if (SectorSize != SectorBytes)
            throw new UnsupportedFeatureException($"unsupported VDI image (sector size {SectorSize} is not {SectorBytes})");
        if (BlockSize != DefaultBlockSize)
            throw new UnsupportedFeatureException($"unsupported VDI image (block size {BlockSize} is not {DefaultBlockSize})");
        if (diskSize > (ulong)BlocksInImage * BlockSize)
            throw new UnsupportedFeatureException(
                $"unsupported VDI image (disk size {diskSize}, image bitmap has room for {(ulong)BlocksInImage * BlockSize})");
        if (HasLinkUuid) throw new UnsupportedFeatureException("unsupported VDI image (non-NULL link UUID)");
        if (HasParentUuid) throw new UnsupportedFeatureException("unsupported VDI image (non-NULL parent UUID)");
        if (BlocksInImage > MaxBlocks)
            throw new UnsupportedFeatureException($"unsupported VDI image (too many blocks {BlocksInImage}, max is {MaxBlocks})");
    }

    /// <summary>VBoxManage convertfromraw writes odd sizes; qemu rounds them up to whole sectors.</summary>
    public ulong RoundedDiskSize => (DiskSize + SectorBytes - 1) / SectorBytes * SectorBytes;

    private static uint Le32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32LittleEndian(b[at..]);
}
