using ImageTool.Formats;
using ImageTool.Info;
using ImageTool.Options;

namespace ImageTool.Protocols.Blkdebug;

/// <summary>
/// blkdebug as a filter above a format (<c>driver=blkdebug,image.driver=qcow2,image.file.filename=...</c>): the
/// image's requests, block status included, pass through the node's armed rules, so a rule with <c>event=none</c>
/// and a sector fails exactly the guest requests that cover it.
/// </summary>
internal sealed class BlkdebugImage(IImage image, BlkdebugNode node) : IImage
{
    public const string DriverName = "blkdebug";

    /// <summary>The options of the filtered image: those under <c>image.</c>, the prefix taken off.</summary>
    public static ImageOptions ImageOptionsOf(ImageOptions options)
    {
        var inner = new ImageOptions();
        foreach (var (key, value) in options.Values)
            if (key.StartsWith("image.", StringComparison.Ordinal)) inner.Set(key["image.".Length..], value);
        return inner;
    }

    /// <summary>The file below the filter, as a name: <c>image.file.filename</c>, <c>image.filename</c> or <c>image</c> (a null driver: its URL).</summary>
    public static string? PathOf(ImageOptions options) =>
        options.GetString("image.file.filename") ?? options.GetString("image.file") ?? options.GetString("image.filename")
        ?? options.GetString("image") ?? options.GetString("x-image")
        ?? (Null.NullProtocol.ForName(options.GetString("image.driver") + "://") is { } nullDriver ? nullDriver.UrlPrefix : null);

    public string FileName => image.FileName;
    public IImageFormat Format => image.Format;
    public string? BackingFileName => image.BackingFileName;
    public string? BackingFormat => image.BackingFormat;
    public IImage? Backing => image.Backing;
    public long Length => image.Length;
    public bool IsReadOnly => image.IsReadOnly;

    public void AttachBacking(IImage? backing) => image.AttachBacking(backing);

    public void Read(long offset, Span<byte> buffer)
    {
        node.Check(offset, buffer.Length, BlkdebugIoType.Read);
        image.Read(offset, buffer);
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        node.Check(offset, buffer.Length, BlkdebugIoType.Write);
        image.Write(offset, buffer);
    }

    public void WriteZeroes(long offset, long length, bool mayDeallocate)
    {
        node.Check(offset, length, BlkdebugIoType.WriteZeroes);
        image.WriteZeroes(offset, length, mayDeallocate);
    }

    public BlockStatus GetBlockStatus(long offset, long length)
    {
        node.Check(offset, length, BlkdebugIoType.BlockStatus);
        return image.GetBlockStatus(offset, length);
    }

    public void Flush()
    {
        node.Check(0, 0, BlkdebugIoType.Flush);
        image.Flush();
    }

    bool IImage.HasZeroInit => image.HasZeroInit;

    bool IImage.ReportsBacking => false;

    // qemu's info of the filter node: its own driver name, the cluster size and snapshots seen through it, no
    // allocation, no format-specific part, and no dirty flag set.
    public ImageInfo GetInfo() => image.GetInfo() with
    {
        Format = DriverName,
        ActualSize = null,
        DirtyFlag = false,
        FormatSpecificType = null,
        FormatSpecificData = null,
    };

    public void Dispose() => image.Dispose();
}
