namespace ImageTool;

/// <summary>A seekable <see cref="Stream"/> over any block device, for libraries that want streams.</summary>
public sealed class BlockDeviceStream : Stream
{
    private readonly IBlockDevice _device;
    private readonly bool _ownsDevice;
    private long _position;

    /// <summary>A stream over <paramref name="device"/>, positioned at 0.</summary>
    /// <param name="device">The disk or image to read and write.</param>
    /// <param name="ownsDevice">Dispose the device with the stream.</param>
    public BlockDeviceStream(IBlockDevice device, bool ownsDevice = false)
    {
        _device = device;
        _ownsDevice = ownsDevice;
    }

    /// <inheritdoc/>
    public override bool CanRead => true;
    /// <inheritdoc/>
    public override bool CanSeek => true;
    /// <summary>True unless the device is read-only.</summary>
    public override bool CanWrite => !_device.IsReadOnly;
    /// <summary>The device's virtual size: the stream cannot grow.</summary>
    public override long Length => _device.Length;

    /// <inheritdoc/>
    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    /// <inheritdoc/>
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <inheritdoc/>
    public override int Read(Span<byte> buffer)
    {
        long available = _device.Length - _position;
        if (available <= 0) return 0;
        int n = (int)Math.Min(buffer.Length, available);
        _device.Read(_position, buffer[..n]);
        _position += n;
        return n;
    }

    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    /// <summary>Writes at the position; writing past the device's end throws <see cref="NotSupportedException"/>.</summary>
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_position + buffer.Length > _device.Length)
            throw new NotSupportedException("Writing past the end of a block device; resize the image first");
        _device.Write(_position, buffer);
        _position += buffer.Length;
    }

    /// <inheritdoc/>
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

    /// <summary>Flushes the device (its metadata and, unless the cache mode is unsafe, the host file).</summary>
    public override void Flush() => _device.Flush();

    /// <summary>Always throws <see cref="NotSupportedException"/>: resize the image instead.</summary>
    public override void SetLength(long value) => throw new NotSupportedException("Block devices have a fixed length");

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsDevice) _device.Dispose();
        base.Dispose(disposing);
    }
}
