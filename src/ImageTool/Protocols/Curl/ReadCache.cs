namespace ImageTool.Protocols.Curl;

/// <summary>
/// The last few ranges fetched with their read-ahead (qemu's curl driver keeps its states' buffers the same
/// way), so the small reads of format metadata that follow one another do not each cost a request.
/// </summary>
internal sealed class ReadCache
{
    private const int Segments = 8;
    private readonly List<(long Offset, byte[] Data)> _segments = [];

    public bool TryRead(long offset, Span<byte> buffer)
    {
        lock (_segments)
        {
            foreach (var (start, data) in _segments)
            {
                if (offset >= start && offset + buffer.Length <= start + data.Length)
                {
                    data.AsSpan((int)(offset - start), buffer.Length).CopyTo(buffer);
                    return true;
                }
            }
        }
        return false;
    }

    public void Add(long offset, byte[] data)
    {
        lock (_segments)
        {
            if (_segments.Count == Segments) _segments.RemoveAt(0);
            _segments.Add((offset, data));
        }
    }
}
