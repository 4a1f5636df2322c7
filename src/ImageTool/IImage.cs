using ImageTool.Formats;
using ImageTool.Info;

namespace ImageTool;

/// <summary>An opened image file: a block device plus the metadata its format stores.</summary>
public interface IImage : IBlockDevice
{
    /// <summary>The path the image was opened with.</summary>
    string FileName { get; }

    /// <summary>The image's format name as qemu spells it ("qcow2", "raw", ...).</summary>
    string FormatName => Format.Name;

    /// <summary>The format driver that opened the image: the library's contract with its formats, not part of the public API.</summary>
    internal IImageFormat Format { get; }

    /// <summary>The backing file name exactly as stored in the image, or null.</summary>
    string? BackingFileName { get; }

    /// <summary>The backing format recorded in the image, or null.</summary>
    string? BackingFormat { get; }

    /// <summary>The opened backing image, or null (none, or not opened).</summary>
    IImage? Backing { get; }

    /// <summary>Attaches the opened backing image; the image owns it from then on.</summary>
    void AttachBacking(IImage? backing);

    /// <summary>What <c>img info</c> shows; filename, actual size and backing paths are filled by the caller.</summary>
    ImageInfo GetInfo();

    /// <summary>A new image reads as zeros where nothing was written (qemu's bdrv_has_zero_init).</summary>
    internal bool HasZeroInit => true;

    /// <summary>
    /// A run this image reports unallocated, with nothing below it, reads as zeros (qemu adds BDRV_BLOCK_ZERO for
    /// drivers that support backing files). A protocol node whose status is not about holes (raw over NBD with
    /// x-dirty-bitmap) says otherwise: such runs must be read.
    /// </summary>
    internal bool UnallocatedReadsAsZero => true;

    /// <summary>
    /// A write to part of a new cluster makes the format store the rest of it too (copy-on-write or zero fill), so
    /// convert writes a cluster holding any data whole. Formats that store part of a new block alone, the rest left
    /// a hole in the file (vpc, vhdx), say false: convert then leaves their zero runs out, as qemu-img does.
    /// </summary>
    internal bool FillsNewClusters => true;

    /// <summary>The image has no size of its own (a character device such as /dev/zero reports 0).</summary>
    internal bool HasNoSize => false;

    /// <summary>Info names the backing file of this node; a filter above a format (blkdebug) has none of its own.</summary>
    internal bool ReportsBacking => true;
}
