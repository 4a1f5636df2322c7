namespace ImageTool;

/// <summary>A seekable <see cref="Stream"/> over any block device, for libraries that want streams.</summary>
public sealed class BlockDeviceStream : Stream
{
    private readonly IBlockDevice _device;
    private readonly bool _ownsDevice;
    private long _position;

    public BlockDeviceStream(IBlockDevice device, bool ownsDevice = false)
    {
        _device = device;
        _ownsDevice = ownsDevice;
    }

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => !_device.IsReadOnly;
    public override long Length => _device.Length;

    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        long available = _device.Length - _position;
        if (available <= 0) return 0;
        int n = (int)Math.Min(buffer.Length, available);
        _device.Read(_position, buffer[..n]);
        _position += n;
        return n;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_position + buffer.Length > _device.Length)
            throw new NotSupportedException("Writing past the end of a block device; resize the image first");
        _device.Write(_position, buffer);
        _position += buffer.Length;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _device.Length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        return _position;
    }

    public override void Flush() => _device.Flush();

    public override void SetLength(long value) => throw new NotSupportedException("Block devices have a fixed length");

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsDevice) _device.Dispose();
        base.Dispose(disposing);
    }
}
