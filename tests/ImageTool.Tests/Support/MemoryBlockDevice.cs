namespace ImageTool.Tests.Support;

/// <summary>
/// An <see cref="IBlockDevice"/> in memory for unit tests of code above the formats (streams, chains,
/// operations): bytes in an array, allocation tracked per block of <see cref="BlockSize"/> bytes.
/// </summary>
public sealed class MemoryBlockDevice(long length, int blockSize = 4096, bool readOnly = false) : IBlockDevice
{
    private readonly byte[] _data = new byte[length];
    private readonly BlockState[] _states = new BlockState[(length + blockSize - 1) / blockSize];

    public long Length => _data.Length;
    public bool IsReadOnly => readOnly;
    public int BlockSize => blockSize;
    public int FlushCount { get; private set; }
    public bool IsDisposed { get; private set; }

    public void Read(long offset, Span<byte> buffer)
    {
        CheckRange(offset, buffer.Length);
        _data.AsSpan((int)offset, buffer.Length).CopyTo(buffer);
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        CheckWritable(offset, buffer.Length);
        buffer.CopyTo(_data.AsSpan((int)offset));
        Mark(offset, buffer.Length, BlockState.Data);
    }

    public void WriteZeroes(long offset, long length, bool mayDeallocate)
    {
        CheckWritable(offset, length);
        _data.AsSpan((int)offset, (int)length).Clear();
        Mark(offset, length, mayDeallocate ? BlockState.Unallocated : BlockState.Zero);
    }

    public BlockStatus GetBlockStatus(long offset, long length)
    {
        CheckRange(offset, length);
        long block = offset / blockSize, end = offset + length;
        var state = _states[block];
        long runEnd = (block + 1) * blockSize;
        while (runEnd < end && _states[runEnd / blockSize] == state) runEnd += blockSize;
        return new BlockStatus(offset, Math.Min(runEnd, end) - offset, state);
    }

    public void Flush() => FlushCount++;

    public void Dispose() => IsDisposed = true;

    // A partly written block counts as data: its other bytes are the zeros it already held.
    private void Mark(long offset, long length, BlockState state)
    {
        if (length == 0) return;
        for (long b = offset / blockSize; b <= (offset + length - 1) / blockSize; b++)
        {
            bool whole = b * blockSize >= offset && (b + 1) * blockSize <= offset + length;
            _states[b] = whole ? state : BlockState.Data;
        }
    }

    private void CheckWritable(long offset, long length)
    {
        if (readOnly) throw new InvalidOperationException("The device is read-only");
        CheckRange(offset, length);
    }

    private void CheckRange(long offset, long length)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (offset < 0 || length < 0 || offset + length > _data.Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset + length}) is outside the device ({_data.Length} bytes)");
    }
}
