using ImageTool.Capabilities;
using ImageTool.Info;
using ImageTool.IO;

namespace ImageTool.Formats.Raw;

/// <summary>An opened raw image: the file's bytes are the disk's bytes.</summary>
internal sealed class RawImage : IImage, IResizable, IHostFileRuns, IHostFileCopyTarget
{
    private readonly HostFile _file;
    private readonly HostCopy _copy;
    private readonly bool _guardBlockZero;

    // The file's length, read once at open and kept up to date by this image's own writes, as qemu keeps
    // total_sectors: a read needs no fstat, and a file cut short under the command shows as a read that stops
    // inside it (an error), never as a disk that quietly got smaller or a tail of zeros.
    private long _fileLength;

    public RawImage(HostFile file, IImageFormat format, bool guardBlockZero)
    {
        _file = file;
        Format = format;
        _guardBlockZero = guardBlockZero;
        _copy = new HostCopy(file);
        _fileLength = file.Length;
    }

    /// <summary>The granularity of block status (1, or 512 under cache.direct=on): a data run ending in a partial last sector covers it.</summary>
    public int StatusAlignment { get; init; } = 1;

    public string FileName => _file.Path;
    public IImageFormat Format { get; }
    public string? BackingFileName => null;
    public string? BackingFormat => null;
    public IImage? Backing => null;

    public void AttachBacking(IImage? backing)
    {
        if (backing != null) throw new UnsupportedFeatureException("Backing file not supported for file format 'raw'");
    }

    // qemu reports (and converts) a raw file's size rounded up to a whole sector.
    public long Length => (_fileLength + 511) & ~511L;
    public bool IsReadOnly => _file.IsReadOnly;

    public void Read(long offset, Span<byte> buffer)
    {
        BlockDeviceChecks.CheckRange(this, offset, buffer.Length);
        int held = (int)Math.Clamp(_fileLength - offset, 0, buffer.Length);
        if (_file.ReadAvailable(offset, buffer[..held]) < held) throw Shrank();
        buffer[held..].Clear();
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        BlockDeviceChecks.CheckWrite(this, offset, buffer.Length);
        if (_guardBlockZero && offset < 512) GuardBlockZero(offset, buffer);
        _file.Write(offset, buffer);
        _fileLength = Math.Max(_fileLength, offset + buffer.Length);
    }

    private IOException Shrank() => new($"the source shrank to {_file.Length} bytes while it was read");

    // qemu restricts writes to sector 0 of a probed raw image that would make it probe as another format.
    private void GuardBlockZero(long offset, ReadOnlySpan<byte> buffer)
    {
        var head = new byte[FormatRegistry.MaxProbeSize];
        _file.Read(0, head);
        buffer[..(int)Math.Min(buffer.Length, head.Length - offset)].CopyTo(head.AsSpan((int)offset));
        if (FormatRegistry.ProbeBytes(head).Name != "raw")
            throw new IOException("Operation not permitted");
    }

    public void WriteZeroes(long offset, long length, bool mayDeallocate)
    {
        BlockDeviceChecks.CheckWrite(this, offset, length);
        long end = Math.Min(offset + length, _fileLength);
        if (end <= offset) return;
        if (mayDeallocate && _file.PunchHole(offset, end - offset)) return;
        if (_file.ZeroOut(offset, end - offset)) return;
        RawFormat.ZeroFill(_file, offset, end - offset);
    }

    public BlockStatus GetBlockStatus(long offset, long length)
    {
        BlockDeviceChecks.CheckRange(this, offset, length);
        long fileLength = _fileLength;
        long limit = offset + length;
        // Past the end of the file (the tail of the last sector): zeros, mapped where they would be, as qemu says.
        if (offset >= fileLength) return new BlockStatus(offset, length, BlockState.Zero, HostOffset: offset, HostFile: _file.Path);
        // qemu's map shows a vvfat disk as data without a host offset.
        if (_file.IsVvfat) return new BlockStatus(offset, Math.Min(length, fileLength - offset), BlockState.Data);
        if (_file.RemoteBlockStatus(offset, Math.Min(length, fileLength - offset)) is { } remote)
            return remote.HostOffset != null ? remote with { HostFile = _file.Path } : remote;
        long? data = _file.NextData(offset);
        // No data up to the end: a hole at the tail, or the file was cut short under us.
        if (data == null && _file.Length <= offset) throw Shrank();
        // Holes are still mapped plainly (qemu map shows their offset too).
        if (data == null) return new BlockStatus(offset, length, BlockState.Zero, HostOffset: offset, HostFile: _file.Path);
        if (data > offset) return new BlockStatus(offset, Math.Min(data.Value, limit) - offset, BlockState.Zero, HostOffset: offset, HostFile: _file.Path);
        long hole = Math.Min(_file.NextHole(offset), limit);
        if (hole == fileLength && hole % StatusAlignment != 0) hole = Math.Min(limit, hole + StatusAlignment - hole % StatusAlignment);
        return new BlockStatus(offset, hole - offset, BlockState.Data, HostOffset: offset, HostFile: _file.Path);
    }

    public HostRun? FindHostRun(long offset, long length) => HostRun.Of(GetBlockStatus(offset, length), _file);

    public bool MayHaveHostRuns => _file.IsKernelCopyable;

    public bool CanClone => _copy.CanClone;

    public long CopyFromHostFile(HostFile source, long sourceOffset, long offset, long length, bool cloneOnly)
    {
        BlockDeviceChecks.CheckWrite(this, offset, length);
        // Sector 0 of a probed raw image is checked byte by byte (GuardBlockZero): that takes a plain write.
        if (_guardBlockZero && offset < 512) return 0;
        long copied = _copy.Copy(source, sourceOffset, offset, Math.Min(length, _fileLength - offset), cloneOnly);
        _fileLength = Math.Max(_fileLength, offset + copied);
        return copied;
    }

    public void Flush() => _file.Flush();

    // A device keeps whatever it held: nothing reads as zero until written (qemu's bdrv_has_zero_init).
    bool IImage.HasZeroInit => !_file.IsDevice;

    bool IImage.HasNoSize => _file.IsCharacterDevice;

    // Only a remote status (x-dirty-bitmap) makes a raw run unallocated; qemu's raw driver has no backing files.
    bool IImage.UnallocatedReadsAsZero => false;

    public void Resize(long size, string preallocation)
    {
        long old = _fileLength;
        switch (preallocation)
        {
            case "off":
                _file.SetLength(size);
                break;
            case "falloc":
                _file.Allocate(old, size - old);
                _file.SetLength(size);
                break;
            case "full":
                _file.SetLength(size);
                RawFormat.ZeroFill(_file, old, size - old);
                break;
            default:
                throw new UnsupportedFeatureException($"Unsupported preallocation mode: {preallocation}");
        }
        _fileLength = _file.Length;
    }

    public ImageInfo GetInfo() => new()
    {
        Format = Format.Name,
        VirtualSize = Length,
        ActualSize = _file.AllocatedBytes,
        DirtyFlag = _file.HasDriverInfo ? false : null,
    };

    public void Dispose() => _file.Dispose();
}
