namespace ImageTool.Kvm.Network;

/// <summary>A fixed-capacity byte FIFO (circular buffer) for a TCP connection's data in one direction.</summary>
internal sealed class ByteRing(int capacity)
{
    private readonly byte[] _buffer = new byte[capacity];
    private int _start;

    public int Count { get; private set; }

    public int Capacity => _buffer.Length;

    public int Free => _buffer.Length - Count;

    /// <summary>Appends as much as fits; returns how much that was.</summary>
    public int Append(ReadOnlySpan<byte> data)
    {
        int n = Math.Min(data.Length, Free);
        int end = (_start + Count) % _buffer.Length;
        int first = Math.Min(n, _buffer.Length - end);
        data[..first].CopyTo(_buffer.AsSpan(end));
        data[first..n].CopyTo(_buffer);
        Count += n;
        return n;
    }

    /// <summary>Copies bytes starting <paramref name="offset"/> bytes into the FIFO without removing them.</summary>
    public void Peek(int offset, Span<byte> into)
    {
        int position = (_start + offset) % _buffer.Length;
        int first = Math.Min(into.Length, _buffer.Length - position);
        _buffer.AsSpan(position, first).CopyTo(into);
        _buffer.AsSpan(0, into.Length - first).CopyTo(into[first..]);
    }

    public void Discard(int count)
    {
        count = Math.Min(count, Count);
        _start = (_start + count) % _buffer.Length;
        Count -= count;
    }

    public void Clear()
    {
        _start = 0;
        Count = 0;
    }
}
