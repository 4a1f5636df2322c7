using System.Buffers.Binary;

namespace ImageTool.Formats.Cloop;

/// <summary>
/// The cloop V2.0 head: a 128-byte shell preamble, then big-endian block size and block count; the
/// n_blocks+1 big-endian u64 block offsets follow at <see cref="IndexOffset"/>.
/// </summary>
internal readonly record struct CloopHeader(uint BlockSize, uint BlockCount)
{
    public const int PreambleSize = 128;
    public const int Size = PreambleSize + 8;
    public const int IndexOffset = Size;

    /// <summary>qemu's limits (block/cloop.c): 64 MiB blocks, a u32-addressable and 512 MiB offset table.</summary>
    public const uint MaxBlockSize = 64u << 20;
    public const uint MaxBlockCount = uint.MaxValue / 8;
    public const long MaxIndexBytes = 512L << 20;

    /// <summary>A stored block may expand a little beyond block_size; qemu rejects more than twice the maximum.</summary>
    public const long MaxCompressedBlockSize = 2L * MaxBlockSize;

    /// <summary>What cloop-utils writes; qemu probes only the first three lines.</summary>
    public static ReadOnlySpan<byte> Preamble =>
        "#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\nexit $?\n"u8;

    public static ReadOnlySpan<byte> ProbeMagic =>
        "#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n"u8;

    public long VirtualSize => (long)BlockSize * BlockCount;

    public long IndexBytes => ((long)BlockCount + 1) * 8;

    public long DataOffset => IndexOffset + IndexBytes;

    public static CloopHeader Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt32BigEndian(b[PreambleSize..]),
        BinaryPrimitives.ReadUInt32BigEndian(b[(PreambleSize + 4)..]));

    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        Preamble.CopyTo(b);
        BinaryPrimitives.WriteUInt32BigEndian(b[PreambleSize..], BlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(b[(PreambleSize + 4)..], BlockCount);
    }

    /// <summary>qemu's checks in qemu's order and wording, then ours: the offset table must fit the file.</summary>
    public void Validate(long fileLength)
    {
        if (BlockSize % 512 != 0)
            throw new ImageFormatException($"block_size {BlockSize} must be a multiple of 512");
        if (BlockSize == 0)
            throw new ImageFormatException("block_size cannot be zero");
        if (BlockSize > MaxBlockSize)
            throw new ImageFormatException($"block_size {BlockSize} must be 64 MB or less");
        if (BlockCount > MaxBlockCount)
            throw new ImageFormatException($"n_blocks {BlockCount} must be {MaxBlockCount} or less");
        if (IndexBytes > MaxIndexBytes)
            throw new ImageFormatException("image requires too many offsets, try increasing block size");
        if (DataOffset > fileLength)
            throw new ImageCorruptException(
                $"offset table of {BlockCount + 1L} entries does not fit in the file ({fileLength} bytes), image file is corrupt");
    }
}
