using System.Buffers.Binary;

namespace ImageTool.Formats.Vpc;

/// <summary>
/// Resize (qemu 7.2 has none for vpc). The new size follows the rule the image's size already follows: an image
/// sized by its CHS geometry gets the smallest geometry that holds the request (as create does), one sized by
/// current_size gets the request in sectors. A dynamic disk whose BAT has no room for the new entries moves the
/// blocks in the BAT's way to the end of the file.
/// </summary>
internal sealed partial class VpcImage : IResizable
{
    public void Resize(long size, string preallocation)
    {
        if (preallocation != "off") throw new UnsupportedFeatureException($"Unsupported preallocation mode '{preallocation}'");
        if (_differencing) throw new UnsupportedFeatureException("Cannot resize a differencing VHD");
        var (footer, length) = ResizedFooter(size);
        var footerBytes = new byte[VpcFooter.Size];
        footer.Write(footerBytes);
        lock (_writeLock)
        {
            if (_fixed) ResizeFixed(length, footerBytes);
            else ResizeDynamic(length, footerBytes);
            _footer = footer;
            _footerBytes = footerBytes;
            Length = length;
        }
    }

    private (VpcFooter Footer, long Length) ResizedFooter(long size)
    {
        long sectors = (size + 511) / 512;
        if (sectors > VpcGeometry.MaxSectors) throw new ImageFormatException("The image size is too large for file format 'vpc'");
        bool sizedByChs = _footer.Geometry != VpcGeometry.MaxGeometrySectors && Length == _footer.Geometry * 512;
        VpcGeometry geometry;
        if (sizedByChs)
        {
            geometry = VpcGeometry.RoundUp(sectors);
            if (geometry.Sectors != VpcGeometry.MaxGeometrySectors) sectors = geometry.Sectors;
        }
        else
        {
            geometry = _footer.Geometry == VpcGeometry.MaxGeometrySectors ? VpcGeometry.Max : VpcGeometry.For(sectors);
        }
        // Original size too: libvhdi takes the disk's size from it, and a fresh create of the new size has it so.
        var footer = _footer with
        {
            OriginalSize = (ulong)sectors * 512,
            CurrentSize = (ulong)sectors * 512,
            Cylinders = geometry.Cylinders,
            Heads = geometry.Heads,
            SectorsPerTrack = geometry.SectorsPerTrack,
        };
        return (footer, sectors * 512);
    }

    /// <summary>The data, then the footer: growing zeros the old footer and what lay past the old size.</summary>
    private void ResizeFixed(long length, byte[] footerBytes)
    {
        long oldFooterAt = _file.Length - VpcFooter.Size;
        if (length > Length) WriteZeroBytes(Length, Math.Min(length, oldFooterAt + VpcFooter.Size) - Length);
        _file.Write(length, footerBytes);
        _file.SetLength(length + VpcFooter.Size);
    }

    private void ResizeDynamic(long length, byte[] footerBytes)
    {
        ZeroTail(Math.Min(Length, length));
        long entries = (length + _blockSize - 1) / _blockSize;
        long batEnd = (_batOffset + entries * 4 + 511) & ~511L;
        long headerAt = (long)_footer.DataOffset;
        if (headerAt >= _batOffset && headerAt < batEnd)
            throw new UnsupportedFeatureException("Cannot grow the block allocation table of this VHD: its dynamic header follows it");

        Span<byte> entry = stackalloc byte[4];
        for (long i = 0; i < Math.Min(entries, _bat.Length); i++)
        {
            long start = BlockStart(i);
            if (start < _batOffset || start >= batEnd) continue;
            // In the way of the grown BAT: copied to the end first, so the old entry stays right until the new one is written.
            var block = new byte[_bitmapSize + _blockSize];
            _file.Read(start, block);
            long to = Math.Max(_freeDataBlockOffset, batEnd);
            _file.Write(to, block);
            _freeDataBlockOffset = to + block.Length;
            _bat[i] = (uint)(to / 512);
            BinaryPrimitives.WriteUInt32BigEndian(entry, _bat[i]);
            _file.Write(_batOffset + i * 4, entry);
        }

        var bat = new uint[entries];
        Array.Fill(bat, Unallocated);
        Array.Copy(_bat, bat, Math.Min(entries, _bat.Length));
        long free = Math.Max(batEnd, headerAt > _batOffset ? headerAt + VpcDynamicHeader.Size : 0);
        foreach (uint start in bat.Where(e => e != Unallocated)) free = Math.Max(free, 512L * start + _bitmapSize + _blockSize);

        // The BAT (padded with 0xFF over what the old one covered), the header's entry count, then the footers.
        long oldBatEnd = (_batOffset + _bat.LongLength * 4 + 511) & ~511L;
        var raw = new byte[Math.Max(batEnd, Math.Min(oldBatEnd, free)) - _batOffset];
        raw.AsSpan().Fill(0xFF);
        for (int i = 0; i < bat.Length; i++) BinaryPrimitives.WriteUInt32BigEndian(raw.AsSpan(i * 4), bat[i]);
        _file.Write(_batOffset, raw);
        var header = new byte[VpcDynamicHeader.Size];
        _file.Read(headerAt, header);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(28), (uint)entries);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(36), VpcFooter.ComputeChecksum(header, 36));
        _file.Write(headerAt, header);
        _file.Write(0, footerBytes);
        _file.Write(free, footerBytes);
        _file.SetLength(free + VpcFooter.Size);
        _bat = bat;
        _freeDataBlockOffset = free;
    }

    /// <summary>What a stored block holds past the end would show again after a later grow.</summary>
    private void ZeroTail(long end)
    {
        long block = end / _blockSize;
        long inBlock = end % _blockSize;
        if (inBlock == 0 || block >= _bat.Length || BlockStart(block) < 0) return;
        WriteZeroBytes(BlockStart(block) + _bitmapSize + inBlock, _blockSize - inBlock);
    }
}
