namespace ImageTool.Kvm.Disks;

/// <summary>
/// The throw-away layer of <c>-snapshot</c>: a copy-on-write block device in memory above a read-only image.
/// The guest sees its writes; the image is never written and everything is discarded at dispose.
/// </summary>
/// <remarks>qemu uses a temporary qcow2 file; this keeps written 4 KiB blocks in memory instead.</remarks>
internal sealed class SnapshotOverlay(IBlockDevice image) : IBlockDevice
{
    private const int BlockSize = 4096;
    private readonly Dictionary<long, byte[]> _blocks = [];
    private readonly Lock _lock = new();

    public long Length => image.Length;
    public bool IsReadOnly => false;

    /// <summary>Bytes held in memory by the guest's writes.</summary>
    public long OverlayBytes
    {
        get
        {
            lock (_lock) return (long)_blocks.Count * BlockSize;
        }
    }

    public void Read(long offset, Span<byte> buffer)
    {
        CheckRange(offset, buffer.Length);
        lock (_lock)
        {
            int done = 0;
            while (done < buffer.Length)
            {
                long position = offset + done;
                long block = position / BlockSize;
                int inBlock = (int)(position % BlockSize);
                int n = Math.Min(BlockSize - inBlock, buffer.Length - done);
                if (_blocks.TryGetValue(block, out var data))
                {
                    data.AsSpan(inBlock, n).CopyTo(buffer.Slice(done, n));
                }
                else
                {
                    // Extend over following blocks that are not in the overlay: one read from the image.
                    while (done + n < buffer.Length && !_blocks.ContainsKey((position + n) / BlockSize))
                        n = Math.Min(n + BlockSize, buffer.Length - done);
                    image.Read(position, buffer.Slice(done, n));
                }
                done += n;
            }
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        CheckRange(offset, buffer.Length);
        lock (_lock)
        {
            int done = 0;
            while (done < buffer.Length)
            {
                long position = offset + done;
                long block = position / BlockSize;
                int inBlock = (int)(position % BlockSize);
                int n = Math.Min(BlockSize - inBlock, buffer.Length - done);
                buffer.Slice(done, n).CopyTo(Block(block, whole: n == BlockSize).AsSpan(inBlock));
                done += n;
            }
        }
    }

    public void WriteZeroes(long offset, long length, bool mayDeallocate)
    {
        CheckRange(offset, length);
        var zeros = new byte[BlockSize];
        for (long done = 0; done < length;)
        {
            int n = (int)Math.Min(BlockSize - (offset + done) % BlockSize, length - done);
            Write(offset + done, zeros.AsSpan(0, n));
            done += n;
        }
    }

    public BlockStatus GetBlockStatus(long offset, long length)
    {
        CheckRange(offset, length);
        lock (_lock)
        {
            long block = offset / BlockSize;
            if (_blocks.ContainsKey(block))
            {
                long end = (block + 1) * BlockSize;
                while (end < offset + length && _blocks.ContainsKey(end / BlockSize)) end += BlockSize;
                return new BlockStatus(offset, Math.Min(end, offset + length) - offset, BlockState.Data);
            }
            long limit = (block + 1) * BlockSize;
            while (limit < offset + length && !_blocks.ContainsKey(limit / BlockSize)) limit += BlockSize;
            var below = image.GetBlockStatus(offset, Math.Min(limit, offset + length) - offset);
            return below with { HostOffset = null, HostFile = null };
        }
    }

    public void Flush() { }

    public void Dispose()
    {
        lock (_lock) _blocks.Clear();
    }

    private byte[] Block(long block, bool whole)
    {
        if (_blocks.TryGetValue(block, out var data)) return data;
        data = new byte[BlockSize];
        long start = block * BlockSize;
        if (!whole) image.Read(start, data.AsSpan(0, (int)Math.Min(BlockSize, image.Length - start)));
        _blocks.Add(block, data);
        return data;
    }

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Length - length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"Range {offset}+{length} is outside the {Length}-byte disk");
    }
}
