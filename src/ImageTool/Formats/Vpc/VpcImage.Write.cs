using System.Buffers;
using System.Buffers.Binary;

namespace ImageTool.Formats.Vpc;

/// <summary>Writes: new blocks go where the footer was, as qemu's alloc_block places them.</summary>
internal sealed partial class VpcImage
{
    private const int ZeroChunk = 1 << 20;

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        BlockDeviceChecks.CheckWrite(this, offset, buffer.Length);
        lock (_writeLock)
        {
            if (_fixed)
            {
                _file.Write(offset, buffer);
                return;
            }
            while (buffer.Length > 0)
            {
                long block = offset / _blockSize;
                int inBlock = (int)(offset % _blockSize);
                int n = Math.Min(buffer.Length, _blockSize - inBlock);
                long start = BlockStart(block);
                if (start < 0) start = AllocateBlock(block);
                if (_differencing) WriteDifferencing(block, start, offset, buffer[..n]);
                else _file.Write(start + _bitmapSize + inBlock, buffer[..n]);
                buffer = buffer[n..];
                offset += n;
            }
        }
    }

    /// <summary>
    /// Whole sectors go to the file (a partly written sector keeps the rest of what it read before, parent data
    /// included), then their bitmap bits are set.
    /// </summary>
    private void WriteDifferencing(long block, long start, long offset, ReadOnlySpan<byte> data)
    {
        long blockOffset = block * _blockSize;
        long first = (offset - blockOffset) / 512 * 512;
        long last = (offset - blockOffset + data.Length + 511) / 512 * 512;
        if (first != offset - blockOffset || last != offset - blockOffset + data.Length)
        {
            int length = (int)(last - first);
            var whole = ArrayPool<byte>.Shared.Rent(length);
            try
            {
                var span = whole.AsSpan(0, length);
                long readable = Math.Min(length, Length - (blockOffset + first));
                span.Clear();
                Read(blockOffset + first, span[..(int)readable]);
                data.CopyTo(span[(int)(offset - blockOffset - first)..]);
                _file.Write(start + _bitmapSize + first, span);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(whole);
            }
        }
        else
        {
            _file.Write(start + _bitmapSize + first, data);
        }
        var bitmap = Bitmap(block, start);
        lock (_bitmaps)
        {
            for (long s = first / 512; s < last / 512; s++) Set(bitmap, (int)s);
        }
        int from = (int)(first / 512 / 8) & ~511;
        int to = Math.Min(_bitmapSize, (int)((last / 512 + 7) / 8 + 511) & ~511);
        _file.Write(start + from, bitmap.AsSpan(from, to - from));
    }

    /// <summary>
    /// qemu's alloc_block: the bitmap where the footer was (all sectors marked present, or none in a
    /// differencing disk), the footer behind the new block, then the BAT entry.
    /// </summary>
    private long AllocateBlock(long block)
    {
        long at = _freeDataBlockOffset;
        var bitmap = new byte[_bitmapSize];
        if (!_differencing) bitmap.AsSpan().Fill(0xFF);
        _file.Write(at, bitmap);
        long dataEnd = at + _bitmapSize + _blockSize;
        // Stale bytes after the old footer (a file longer than its blocks) must not show through.
        long stale = Math.Min(_file.Length, dataEnd);
        if (stale > at + _bitmapSize) WriteZeroBytes(at + _bitmapSize, stale - (at + _bitmapSize));
        if (_differencing) lock (_bitmaps) _bitmaps[(uint)block] = bitmap;
        _freeDataBlockOffset = dataEnd;
        _file.Write(_freeDataBlockOffset, _footerBytes);
        _bat[block] = (uint)(at / 512);
        Span<byte> entry = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(entry, _bat[block]);
        _file.Write(_batOffset + block * 4, entry);
        return at;
    }

    private void WriteZeroBytes(long at, long length)
    {
        var zeros = ArrayPool<byte>.Shared.Rent(ZeroChunk);
        try
        {
            Array.Clear(zeros, 0, ZeroChunk);
            for (long done = 0; done < length;)
            {
                int n = (int)Math.Min(ZeroChunk, length - done);
                _file.Write(at + done, zeros.AsSpan(0, n));
                done += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(zeros);
        }
    }

    /// <summary>
    /// VHD has no zero flag: zeros are written where data is stored (or, in a differencing disk, where the
    /// parent shows through); unallocated blocks of a disk without parent already read as zeros.
    /// </summary>
    public void WriteZeroes(long offset, long length, bool mayDeallocate)
    {
        BlockDeviceChecks.CheckWrite(this, offset, length);
        if (_fixed)
        {
            lock (_writeLock) WriteZeroBytes(offset, length);
            return;
        }
        var zeros = ArrayPool<byte>.Shared.Rent(ZeroChunk);
        try
        {
            Array.Clear(zeros, 0, ZeroChunk);
            long end = offset + length;
            while (offset < end)
            {
                long blockEnd = Math.Min(end, (offset / _blockSize + 1) * _blockSize);
                int n = (int)Math.Min(ZeroChunk, blockEnd - offset);
                if (BlockStart(offset / _blockSize) >= 0 || _differencing) Write(offset, zeros.AsSpan(0, n));
                offset += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(zeros);
        }
    }
}
