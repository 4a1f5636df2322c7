using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Compression;
using ImageTool.Info;
using ImageTool.IO;

namespace ImageTool.Formats.Cloop;

/// <summary>
/// A cloop image opened for writing. The format cannot be updated in place (blocks are packed back to
/// back behind the index), so the image is rewritten from its start: writes must come in ascending
/// offset order; skipped ranges read as zeros; each block is compressed on the thread pool as soon as
/// it is complete and stored in order; the index is written by <see cref="Flush"/> (or Dispose), which
/// finishes the image. Output is deterministic: the same data gives the same bytes on any core count.
/// </summary>
internal sealed class CloopWriter : IImage
{
    private static readonly ConcurrentBag<MemoryStream> Streams = [];

    private readonly HostFile _file;
    private readonly CloopHeader _header;
    private readonly int _blockSize;
    private readonly long[] _offsets;
    private readonly byte[] _zeroBlock;
    private readonly Queue<(long Index, Task<MemoryStream> Work)> _pending = new();
    private readonly int _maxInFlight;
    private readonly Lock _lock = new();
    private byte[] _current;
    private bool _currentTouched;
    private long _next;
    private long _writePos;
    private bool _finished;

    public CloopWriter(HostFile file, IImageFormat format, CloopHeader header)
    {
        _file = file;
        Format = format;
        _header = header;
        _blockSize = (int)header.BlockSize;
        _offsets = new long[header.BlockCount + 1];
        _zeroBlock = CompressZeroBlock(_blockSize);
        _current = ArrayPool<byte>.Shared.Rent(_blockSize);
        _current.AsSpan(0, _blockSize).Clear();
        // Enough blocks in flight to keep every core busy, bounded to about 256 MiB of buffers.
        _maxInFlight = Math.Max(2, Math.Min(4 * Environment.ProcessorCount, (256 << 20) / _blockSize));
        _writePos = header.DataOffset;
        _file.SetLength(header.DataOffset);
    }

    internal static byte[] CompressZeroBlock(int blockSize)
    {
        var ms = new MemoryStream();
        CloopBlockCodec.Deflate(new byte[blockSize], ms, CompressionLevel.Optimal);
        return ms.ToArray();
    }

    public string FileName => _file.Path;
    public IImageFormat Format { get; }
    public string? BackingFileName => null;
    public string? BackingFormat => null;
    public IImage? Backing => null;
    public long Length => _header.VirtualSize;
    public bool IsReadOnly => false;

    public void AttachBacking(IImage? backing)
    {
        if (backing != null) throw new UnsupportedFeatureException("Backing file not supported for file format 'cloop'");
    }

    public void Read(long offset, Span<byte> buffer) =>
        throw new IOException("A cloop image being written cannot be read before it is finished");

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        BlockDeviceChecks.CheckWrite(this, offset, buffer.Length);
        lock (_lock)
        {
            StartAt(offset);
            while (buffer.Length > 0)
            {
                int inBlock = (int)(offset - _next * _blockSize);
                int n = Math.Min(buffer.Length, _blockSize - inBlock);
                buffer[..n].CopyTo(_current.AsSpan(inBlock));
                _currentTouched = true;
                buffer = buffer[n..];
                offset += n;
                if (inBlock + n == _blockSize) Seal();
            }
        }
    }

    public void WriteZeroes(long offset, long length, bool mayDeallocate)
    {
        BlockDeviceChecks.CheckWrite(this, offset, length);
        lock (_lock)
        {
            StartAt(offset);
            // Bytes not written yet are zeros already; blocks that end inside the range are complete.
            long end = offset + length;
            while (!_finished && (_next + 1) * _blockSize <= end && _next < _header.BlockCount) Seal();
        }
    }

    /// <summary>Refuses writes behind the current block and seals every block that ends at or before <paramref name="offset"/>.</summary>
    private void StartAt(long offset)
    {
        if (_finished)
            throw new IOException($"{_file.Path}: the cloop image is finished; it can only be written once, from start to end");
        if (offset < _next * _blockSize)
            throw new IOException($"{_file.Path}: cloop images are written sequentially; offset {offset} lies before block {_next}");
        while ((_next + 1) * _blockSize <= offset) Seal();
    }

    private void Seal()
    {
        long index = _next++;
        if (!_currentTouched)
        {
            Store(index, _zeroBlock, _zeroBlock.Length);
            return;
        }
        var data = _current;
        _current = ArrayPool<byte>.Shared.Rent(_blockSize);
        _current.AsSpan(0, _blockSize).Clear();
        _currentTouched = false;
        int size = _blockSize;
        _pending.Enqueue((index, Task.Run(() =>
        {
            try
            {
                var ms = Streams.TryTake(out var s) ? s : new MemoryStream();
                CloopBlockCodec.Deflate(data.AsSpan(0, size), ms, CompressionLevel.Optimal);
                return ms;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(data);
            }
        })));
        while (_pending.Count >= _maxInFlight || (_pending.Count > 0 && _pending.Peek().Work.IsCompleted)) DrainOne();
    }

    // A zero block needs no compression, but must still wait behind blocks being compressed.
    private void Store(long index, byte[] data, int length)
    {
        if (_pending.Count > 0)
        {
            _pending.Enqueue((index, Task.FromResult(new MemoryStream(data, 0, length, writable: false, publiclyVisible: true))));
            return;
        }
        _offsets[index] = _writePos;
        _file.Write(_writePos, data.AsSpan(0, length));
        _writePos += length;
    }

    private void DrainOne()
    {
        var (index, work) = _pending.Dequeue();
        var ms = work.GetAwaiter().GetResult();
        _offsets[index] = _writePos;
        var bytes = ms.GetBuffer().AsSpan(0, (int)ms.Length);
        _file.Write(_writePos, bytes);
        _writePos += bytes.Length;
        if (ms.CanWrite) Streams.Add(ms);
    }

    /// <summary>Finishes the image: the rest of the blocks (zeros where nothing was written), then the index.</summary>
    public void Flush()
    {
        lock (_lock)
        {
            if (_finished) return;
            while (_next < _header.BlockCount) Seal();
            while (_pending.Count > 0) DrainOne();
            _offsets[^1] = _writePos;
            var head = new byte[_header.DataOffset];
            _header.Write(head);
            for (int i = 0; i < _offsets.Length; i++)
                BinaryPrimitives.WriteUInt64BigEndian(head.AsSpan(CloopHeader.IndexOffset + i * 8), (ulong)_offsets[i]);
            _file.Write(0, head);
            _file.SetLength(_writePos);
            _file.Flush();
            _finished = true;
        }
    }

    public BlockStatus GetBlockStatus(long offset, long length)
    {
        BlockDeviceChecks.CheckRange(this, offset, length);
        return new BlockStatus(offset, length, BlockState.Data);
    }

    public ImageInfo GetInfo() => new()
    {
        Format = Format.Name,
        VirtualSize = Length,
        ActualSize = _file.AllocatedBytes,
    };

    public void Dispose()
    {
        try
        {
            Flush();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(_current);
            _file.Dispose();
        }
    }
}
