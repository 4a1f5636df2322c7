using ImageTool.Capabilities;
using ImageTool.Info;
using ImageTool.Options;

namespace ImageTool.Formats.Raw;

/// <summary>
/// qemu's raw driver with its <c>offset</c> and <c>size</c> options: the disk is the window of the file that starts
/// at the offset and is the given size long (the rest of the file without one). Requests never leave the window.
/// </summary>
internal sealed class RawWindowImage : IImage, IResizable
{
    private readonly IImage _file;
    private readonly long _offset;
    private readonly long? _size;

    private RawWindowImage(IImage file, long offset, long? size)
    {
        _file = file;
        _offset = offset;
        _size = size;
    }

    /// <summary>The window the options ask for, checked against the file as qemu's raw_apply_options; the image itself without them.</summary>
    public static IImage Open(IImage file, ImageOptions? options)
    {
        long offset, size;
        bool hasSize;
        try
        {
            offset = options?.GetSize("offset") ?? 0;
            hasSize = options?.Contains("size") == true;
            size = options?.GetSize("size") ?? 0;
        }
        catch (ArgumentException e)
        {
            file.Dispose();
            throw new ImageFormatException(e.Message, e);
        }
        if (offset == 0 && !hasSize) return file;
        long fileLength = file.Length;
        string? error =
            offset > fileLength ? $"Offset ({offset}) cannot be greater than size of the containing file ({fileLength})"
            : hasSize && fileLength - offset < size ? $"The sum of offset ({offset}) and size ({size}) has to be smaller or equal to the  actual size of the containing file ({fileLength})"
            : hasSize && size % 512 != 0 ? "Specified size is not multiple of 512"
            : null;
        if (error != null)
        {
            file.Dispose();
            throw new ImageFormatException(error);
        }
        return new RawWindowImage(file, offset, hasSize ? size : null);
    }

    public string FileName => _file.FileName;
    public IImageFormat Format => _file.Format;
    public string? BackingFileName => null;
    public string? BackingFormat => null;
    public IImage? Backing => null;
    public void AttachBacking(IImage? backing) => _file.AttachBacking(backing);
    public bool IsReadOnly => _file.IsReadOnly;

    // qemu's raw_getlength: the file may have changed since, so the window is clipped to it.
    public long Length => Math.Max(0, _size is long size ? Math.Min(size, _file.Length - _offset) : _file.Length - _offset);

    public void Read(long offset, Span<byte> buffer)
    {
        BlockDeviceChecks.CheckRange(this, offset, buffer.Length);
        _file.Read(_offset + offset, buffer);
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        BlockDeviceChecks.CheckWrite(this, offset, buffer.Length);
        _file.Write(_offset + offset, buffer);
    }

    public void WriteZeroes(long offset, long length, bool mayDeallocate)
    {
        BlockDeviceChecks.CheckWrite(this, offset, length);
        _file.WriteZeroes(_offset + offset, length, mayDeallocate);
    }

    public BlockStatus GetBlockStatus(long offset, long length)
    {
        BlockDeviceChecks.CheckRange(this, offset, length);
        var status = _file.GetBlockStatus(_offset + offset, length);
        return status with { Offset = status.Offset - _offset };
    }

    public void Flush() => _file.Flush();

    bool IImage.HasZeroInit => _file.HasZeroInit;

    public void Resize(long size, string preallocation)
    {
        if (_size != null) throw new UnsupportedFeatureException("Cannot resize fixed-size raw disks");
        if (_file is not IResizable resizable) throw new UnsupportedFeatureException("Image format driver does not support resize");
        resizable.Resize(_offset + size, preallocation);
    }

    public ImageInfo GetInfo() => _file.GetInfo() with { VirtualSize = Length };

    public void Dispose() => _file.Dispose();
}
