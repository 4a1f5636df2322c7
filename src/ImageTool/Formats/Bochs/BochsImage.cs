using System.Buffers;
using System.Buffers.Binary;
using ImageTool.Info;
using ImageTool.IO;

namespace ImageTool.Formats.Bochs;

/// <summary>
/// An opened Bochs growing image: the disk is cut into extents; the catalog names each extent's slot in the file (or none),
/// and each slot holds a bitmap of the sectors written, then the sectors. Unwritten sectors read as zeros.
/// </summary>
internal sealed class BochsImage : IImage
{
    private const int Sector = 512;

    private readonly HostFile _file;
    private readonly BochsHeader _header;
    private readonly uint[] _catalog;

    private BochsImage(HostFile file, IImageFormat format, BochsHeader header, uint[] catalog)
    {
        _file = file;
        Format = format;
        _header = header;
        _catalog = catalog;
    }

    public static BochsImage Open(HostFile file, IImageFormat format)
    {
        var head = new byte[BochsHeader.Size];
        file.Read(0, head);
        var header = BochsHeader.Read(head);
        header.ValidateBeforeCatalog();
        long catalogBytes = header.CatalogEntries * 4L;
        // qemu reads a catalog cut off by the end of the file as zeros (every extent in slot 0); we refuse it.
        if (header.HeaderSize + catalogBytes > file.Length)
            throw new ImageCorruptException(
                $"Catalog at offset {header.HeaderSize} ({header.CatalogEntries} entries) extends beyond the end of the file");
        var raw = new byte[catalogBytes];
        file.Read(header.HeaderSize, raw);
        var catalog = new uint[header.CatalogEntries];
        for (int i = 0; i < catalog.Length; i++) catalog[i] = BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(i * 4));
        header.ValidateAfterCatalog();
        return new BochsImage(file, format, header, catalog);
    }

    public string FileName => _file.Path;
    public IImageFormat Format { get; }
    public string? BackingFileName => null;
    public string? BackingFormat => null;
    public IImage? Backing => null;
    public long Length => _header.VirtualSize;
    public bool IsReadOnly => true;

    public void AttachBacking(IImage? backing)
    {
        if (backing != null) throw new UnsupportedFeatureException("Backing file not supported for file format 'bochs'");
    }

    public void Read(long offset, Span<byte> buffer)
    {
        BlockDeviceChecks.CheckRange(this, offset, buffer.Length);
        long extentSize = _header.ExtentSize;
        while (buffer.Length > 0)
        {
            long extent = offset / extentSize;
            long inExtent = offset % extentSize;
            int n = (int)Math.Min(buffer.Length, extentSize - inExtent);
            ReadInExtent(extent, inExtent, buffer[..n]);
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>Reads within one extent: runs of sectors that the bitmap marks written come from the file, the rest is zeros.</summary>
    private void ReadInExtent(long extent, long inExtent, Span<byte> buffer)
    {
        uint slot = _catalog[extent];
        if (slot == BochsHeader.Unallocated)
        {
            buffer.Clear();
            return;
        }
        // As qemu: 64-bit arithmetic from the 32-bit data offset; a result past 2^63 fails as qemu's block layer fails it.
        ulong bitmapOffset = unchecked(_header.DataOffset + 512UL * slot * (_header.ExtentSectors + _header.BitmapSectors));
        ulong dataOffset = unchecked(bitmapOffset + 512UL * _header.BitmapSectors);
        long firstSector = inExtent / Sector;
        long lastSector = (inExtent + buffer.Length - 1) / Sector;
        int bitmapBytes = (int)(lastSector / 8 - firstSector / 8 + 1);
        var bitmap = ArrayPool<byte>.Shared.Rent(bitmapBytes);
        try
        {
            ReadFile(bitmapOffset + (ulong)(firstSector / 8), bitmap.AsSpan(0, bitmapBytes));
            bool Written(long sector) => ((bitmap[sector / 8 - firstSector / 8] >> (int)(sector % 8)) & 1) != 0;
            long pos = inExtent;
            long end = inExtent + buffer.Length;
            while (pos < end)
            {
                long sector = pos / Sector;
                bool written = Written(sector);
                long runEnd = Math.Min((sector + 1) * Sector, end);
                while (runEnd < end && Written(runEnd / Sector) == written) runEnd = Math.Min(runEnd + Sector, end);
                var part = buffer.Slice((int)(pos - inExtent), (int)(runEnd - pos));
                if (written) ReadFile(dataOffset + (ulong)pos, part);
                else part.Clear();
                pos = runEnd;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(bitmap); }
    }

    private void ReadFile(ulong offset, Span<byte> buffer)
    {
        if (offset > long.MaxValue - (ulong)buffer.Length) throw new IOException("Input/output error");
        _file.Read((long)offset, buffer);
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer) => throw new IOException("Image is opened read-only");

    public void WriteZeroes(long offset, long length, bool mayDeallocate) => throw new IOException("Image is opened read-only");

    // qemu's bochs driver has no block-status callback: everything is data, at no plain host offset.
    public BlockStatus GetBlockStatus(long offset, long length)
    {
        BlockDeviceChecks.CheckRange(this, offset, length);
        return new BlockStatus(offset, length, BlockState.Data);
    }

    public void Flush() { }

    public ImageInfo GetInfo() => new()
    {
        Format = Format.Name,
        VirtualSize = Length,
        ActualSize = _file.AllocatedBytes,
    };

    public void Dispose() => _file.Dispose();
}
