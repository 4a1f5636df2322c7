using ImageTool.Formats;
using ImageTool.Info;

namespace ImageTool.Protocols.Null;

/// <summary>An opened null-co/null-aio disk: writes vanish, reads give zeros.</summary>
internal sealed class NullImage(NullProtocol format, string fileName, long length, bool readZeroes, bool readOnly) : IImage
{
    public string FileName => fileName;
    public IImageFormat Format => format;
    public string? BackingFileName => null;
    public string? BackingFormat => null;
    public IImage? Backing => null;
    public long Length => length;
    public bool IsReadOnly => readOnly;

    public void AttachBacking(IImage? backing)
    {
        if (backing != null) throw new UnsupportedFeatureException($"Backing file not supported for file format '{format.Name}'");
    }

    public void Read(long offset, Span<byte> buffer)
    {
        BlockDeviceChecks.CheckRange(this, offset, buffer.Length);
        buffer.Clear();
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer) => BlockDeviceChecks.CheckWrite(this, offset, buffer.Length);

    public void WriteZeroes(long offset, long length, bool mayDeallocate) => BlockDeviceChecks.CheckWrite(this, offset, length);

    // As qemu's null driver: everything maps to itself; only read-zeroes=on promises zeros.
    public BlockStatus GetBlockStatus(long offset, long length)
    {
        BlockDeviceChecks.CheckRange(this, offset, length);
        return new BlockStatus(offset, length, readZeroes ? BlockState.Zero : BlockState.Data, HostOffset: offset, HostFile: fileName);
    }

    public void Flush()
    {
    }

    bool IImage.HasZeroInit => readZeroes;

    public ImageInfo GetInfo() => new() { Format = format.Name, VirtualSize = length, ActualSize = 0 };

    public void Dispose()
    {
    }
}
