using System.Buffers;
using System.Buffers.Binary;
using ImageTool.Check;
using ImageTool.Info;
using ImageTool.IO;

namespace ImageTool.Formats.Cloop;

/// <summary>An opened cloop image (read-only, as in qemu): fixed-size blocks, each inflated on demand.</summary>
internal sealed class CloopImage : IImage, ICheckable
{
    private readonly HostFile _file;
    private readonly CloopHeader _header;
    private readonly long[] _offsets;
    private readonly Lock _cacheLock = new();
    private readonly byte[] _cache;
    private long _cachedBlock = -1;

    private CloopImage(HostFile file, IImageFormat format, CloopHeader header, long[] offsets)
    {
        _file = file;
        Format = format;
        _header = header;
        _offsets = offsets;
        _cache = new byte[header.BlockSize];
    }

    public static CloopImage Open(HostFile file, IImageFormat format)
    {
        Span<byte> head = stackalloc byte[CloopHeader.Size];
        file.Read(0, head);
        var header = CloopHeader.Read(head);
        header.Validate(file.Length);
        var raw = new byte[header.IndexBytes];
        file.Read(CloopHeader.IndexOffset, raw);
        var offsets = new long[header.BlockCount + 1];
        for (int i = 0; i < offsets.Length; i++)
        {
            ulong value = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(i * 8));
            if (value > long.MaxValue)
                throw new ImageCorruptException($"offsets not monotonically increasing at index {i}, image file is corrupt");
            offsets[i] = (long)value;
            if (i == 0) continue;
            if (offsets[i] < offsets[i - 1])
                throw new ImageCorruptException($"offsets not monotonically increasing at index {i}, image file is corrupt");
            if (offsets[i] - offsets[i - 1] > CloopHeader.MaxCompressedBlockSize)
                throw new ImageCorruptException($"invalid compressed block size at index {i}, image file is corrupt");
        }
        return new CloopImage(file, format, header, offsets);
    }

    public string FileName => _file.Path;
    public IImageFormat Format { get; }
    public string? BackingFileName => null;
    public string? BackingFormat => null;
    public IImage? Backing => null;
    public long Length => _header.VirtualSize;
    public bool IsReadOnly => true;
    public int BlockSize => (int)_header.BlockSize;

    public void AttachBacking(IImage? backing)
    {
        if (backing != null) throw new UnsupportedFeatureException("Backing file not supported for file format 'cloop'");
    }

    public void Read(long offset, Span<byte> buffer)
    {
        BlockDeviceChecks.CheckRange(this, offset, buffer.Length);
        int blockSize = BlockSize;
        while (buffer.Length > 0)
        {
            long block = offset / blockSize;
            int inBlock = (int)(offset % blockSize);
            int n = Math.Min(buffer.Length, blockSize - inBlock);
            if (n == blockSize)
            {
                // Whole blocks (convert reads megabytes at a time) are inflated on every core.
                int whole = buffer.Length / blockSize;
                n = whole * blockSize;
                if (whole == 1) ReadBlock(block, buffer[..n]);
                else ReadBlocks(block, whole, buffer[..n]);
            }
            else
            {
                lock (_cacheLock)
                {
                    if (_cachedBlock != block)
                    {
                        _cachedBlock = -1;
                        ReadBlock(block, _cache);
                        _cachedBlock = block;
                    }
                    _cache.AsSpan(inBlock, n).CopyTo(buffer);
                }
            }
            buffer = buffer[n..];
            offset += n;
        }
    }

    private unsafe void ReadBlocks(long first, int count, Span<byte> output)
    {
        int blockSize = BlockSize;
        fixed (byte* start = output)
        {
            byte* at = start;
            try
            {
                Parallel.For(0, count, i => ReadBlock(first + i, new Span<byte>(at + (long)i * blockSize, blockSize)));
            }
            catch (AggregateException e)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
            }
        }
    }

    private void ReadBlock(long block, Span<byte> output)
    {
        string? problem = TryReadBlock(block, output);
        if (problem != null) throw new ImageCorruptException($"Could not read cloop block {block}: {problem}");
    }

    /// <summary>Inflates one block into <paramref name="output"/>; returns why it failed, or null.</summary>
    private string? TryReadBlock(long block, Span<byte> output)
    {
        long start = _offsets[block];
        long length = _offsets[block + 1] - start;
        if (start + length > _file.Length)
            return $"compressed data at offset {start} (+{length}) lies beyond the end of the file";
        var compressed = ArrayPool<byte>.Shared.Rent((int)length);
        try
        {
            _file.Read(start, compressed.AsSpan(0, (int)length));
            return CloopBlockCodec.TryInflate(compressed, (int)length, output)
                ? null
                : $"data at offset {start} does not inflate to {output.Length} bytes";
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(compressed);
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer) => throw new IOException("Image is opened read-only");

    public void WriteZeroes(long offset, long length, bool mayDeallocate) => throw new IOException("Image is opened read-only");

    // qemu's cloop has no block-status callback: everything is data (qemu-img map prints one run; convert
    // still finds the zeros by scanning what it reads).
    public BlockStatus GetBlockStatus(long offset, long length)
    {
        BlockDeviceChecks.CheckRange(this, offset, length);
        return new BlockStatus(offset, length, BlockState.Data);
    }

    public void Flush() { }

    public ImageInfo GetInfo() => new()
    {
        Format = Format.Name,
        VirtualSize = Length,
        ActualSize = _file.AllocatedBytes,
    };

    /// <summary>qemu has no cloop check; ours proves every block lies in the file and inflates to block_size.</summary>
    public CheckReport Check(CheckRepair repair, Action<string> log)
    {
        int corruptions = 0;
        var scratch = ArrayPool<byte>.Shared.Rent(BlockSize);
        try
        {
            if (_offsets[0] != _header.DataOffset)
            {
                log($"ERROR block 0 starts at offset {_offsets[0]}, expected {_header.DataOffset} (after the offset table)");
                corruptions++;
            }
            for (long i = 0; i < _header.BlockCount; i++)
            {
                string? problem = TryReadBlock(i, scratch.AsSpan(0, BlockSize));
                if (problem == null) continue;
                log($"ERROR block {i}: {problem}");
                corruptions++;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
        return new CheckReport
        {
            Corruptions = corruptions,
            ImageEndOffset = _offsets[^1],
            TotalClusters = _header.BlockCount,
            AllocatedClusters = _header.BlockCount,
            CompressedClusters = _header.BlockCount,
        };
    }

    public void Dispose() => _file.Dispose();
}
