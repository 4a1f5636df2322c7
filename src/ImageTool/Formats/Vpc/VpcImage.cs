using System.Buffers;
using System.Buffers.Binary;
using ImageTool.Info;
using ImageTool.IO;

namespace ImageTool.Formats.Vpc;

/// <summary>
/// An opened VHD. Fixed disks are the data followed by the footer. Dynamic and differencing disks map
/// blocks (2 MiB by default) through the BAT; each stored block is a sector bitmap followed by the data,
/// and new blocks are appended where the footer was, the footer moving behind them (as qemu does).
/// A differencing disk reads the sectors its bitmap leaves clear from its parent (qemu 7.2 ignores the
/// parent and reads them as zeros).
/// </summary>
internal sealed partial class VpcImage : IImage
{
    private const uint Unallocated = 0xFFFFFFFF;

    private readonly HostFile _file;
    private VpcFooter _footer;
    private byte[] _footerBytes;
    private readonly bool _fixed;
    private readonly bool _differencing;
    private uint[] _bat;
    private readonly long _batOffset;
    private readonly int _blockSize;
    private readonly int _bitmapSize;
    private readonly Lock _writeLock = new();
    private readonly Dictionary<uint, byte[]> _bitmaps = [];
    private long _freeDataBlockOffset;
    private IImage? _backing;

    private VpcImage(HostFile file, IImageFormat format, VpcFooter footer, byte[] footerBytes, long length, bool isFixed,
        VpcDynamicHeader? dynamic, uint[] bat, long freeDataBlockOffset, string? parent)
    {
        _file = file;
        Format = format;
        _footer = footer;
        _footerBytes = footerBytes;
        Length = length;
        _fixed = isFixed;
        _bat = bat;
        if (dynamic is { } d)
        {
            _batOffset = (long)d.TableOffset;
            _blockSize = (int)d.BlockSize;
            _bitmapSize = BitmapSize(d.BlockSize);
        }
        _freeDataBlockOffset = freeDataBlockOffset;
        BackingFileName = parent;
        _differencing = parent != null;
    }

    /// <summary>One bit per sector, rounded up to whole sectors.</summary>
    private static int BitmapSize(uint blockSize) => (int)((blockSize / (8 * 512) + 511) & ~511u);

    public static VpcImage Open(HostFile file, IImageFormat format, OpenOptions options)
    {
        var footerBytes = new byte[VpcFooter.Size];
        file.Read(0, footerBytes);
        bool isFixed = false;
        if (!VpcFooter.HasCookie(footerBytes))
        {
            // A fixed disk has its footer only at the end of the file.
            long fileLength = file.Length;
            if (fileLength < VpcFooter.Size) throw new ImageFormatException("File too small for a VHD header");
            file.Read(fileLength - VpcFooter.Size, footerBytes);
            if (!VpcFooter.HasCookie(footerBytes) || VpcFooter.Read(footerBytes).DiskType != VpcFooter.TypeFixed)
                throw new ImageFormatException("invalid VHD image");
            isFixed = true;
        }
        var footer = VpcFooter.Read(footerBytes);
        if (VpcFooter.ComputeChecksum(footerBytes, 64) != footer.Checksum) throw new ImageFormatException("Incorrect header checksum");

        long length = SizeOf(footer, options.DriverOptions?.GetString("force_size_calc"));
        if (length / 512 > VpcGeometry.MaxSectors) throw new ImageFormatException("Disk size is too large");
        if (isFixed) return new VpcImage(file, format, footer, footerBytes, length, true, null, [], 0, null);

        var headBytes = new byte[VpcDynamicHeader.Size];
        if (footer.DataOffset > long.MaxValue - VpcDynamicHeader.Size || (long)footer.DataOffset + VpcDynamicHeader.Size > file.Length)
            throw new ImageFormatException("Error reading dynamic VHD header");
        file.Read((long)footer.DataOffset, headBytes);
        if (!VpcDynamicHeader.HasCookie(headBytes)) throw new ImageFormatException("Invalid header magic");
        var dynamic = VpcDynamicHeader.Read(headBytes);
        uint blockSize = dynamic.BlockSize;
        if (!uint.IsPow2(blockSize) || blockSize < 512) throw new ImageFormatException($"Invalid block size {blockSize}");
        // Blocks are buffered whole: qemu has no upper limit, we stop at 256 MiB (no writer uses more than 2 MiB).
        if (blockSize > 256u << 20) throw new UnsupportedFeatureException($"Unsupported block size {blockSize}");
        if (length / blockSize > 0xFFFFFFFFL) throw new ImageFormatException("Too many blocks");
        uint entries = dynamic.MaxTableEntries;
        if ((long)entries * blockSize < length) throw new ImageFormatException("Page table too small");
        if (entries > int.MaxValue / 4) throw new ImageFormatException($"Max Table Entries too large ({(int)entries})");
        long batOffset = (long)dynamic.TableOffset;
        long batBytes = (long)entries * 4;
        if (dynamic.TableOffset > long.MaxValue / 2 || batOffset + batBytes > file.Length)
            throw new ImageFormatException("Error reading pagetable");
        var raw = new byte[batBytes];
        file.Read(batOffset, raw);
        var bat = new uint[entries];
        long free = (batOffset + batBytes + 511) & ~511L;
        int bitmapSize = BitmapSize(blockSize);
        for (int i = 0; i < bat.Length; i++)
        {
            bat[i] = BinaryPrimitives.ReadUInt32BigEndian(raw.AsSpan(i * 4));
            if (bat[i] != Unallocated) free = Math.Max(free, 512L * bat[i] + bitmapSize + blockSize);
        }
        // Parent locator data must survive new blocks (qemu, ignoring parents, may append over it).
        if (footer.DiskType == VpcFooter.TypeDifferencing)
            foreach (var locator in dynamic.Locators.Where(l => l.PlatformCode != 0 && l.DataOffset < (ulong)file.Length))
                free = Math.Max(free, ((long)locator.DataOffset + Math.Max(locator.DataLength, Math.Min(locator.DataSpace, 1u << 20)) + 511) & ~511L);
        if (free > file.Length)
            throw new ImageFormatException("block-vpc: free_data_block_offset points after the end of file. The image has been truncated.");
        string? parent = footer.DiskType == VpcFooter.TypeDifferencing ? ParentName(file, dynamic) : null;
        return new VpcImage(file, format, footer, footerBytes, length, false, dynamic, bat, free, parent);
    }

    /// <summary>
    /// qemu's rule: the CHS product, unless the creator app is one that uses current_size, or the geometry is
    /// the maximum; the force_size_calc option overrides the app table.
    /// </summary>
    private static long SizeOf(VpcFooter footer, string? forceCalc)
    {
        bool useChs = forceCalc switch
        {
            null => footer.CreatorApp != VpcFooter.App("win ") && footer.CreatorApp != VpcFooter.App("qem2")
                && footer.CreatorApp != VpcFooter.App("d2v ") && footer.CreatorApp != VpcFooter.App("CTXS")
                && footer.CreatorApp != 0x74617000,
            "chs" => true,
            "current_size" => false,
            _ => throw new ImageFormatException("Invalid size calculation mode: " + forceCalc),
        };
        long sectors = footer.Geometry;
        if (!useChs || sectors == VpcGeometry.MaxGeometrySectors) sectors = (long)(footer.CurrentSize / 512);
        return sectors * 512;
    }

    /// <summary>The parent's path from the first locator this host can use, else the parent's unicode name.</summary>
    private static string? ParentName(HostFile file, VpcDynamicHeader dynamic)
    {
        foreach (uint platform in new[] { VpcParentLocator.W2ru, VpcParentLocator.MacX, VpcParentLocator.W2ku })
        {
            foreach (var locator in dynamic.Locators)
            {
                if (locator.PlatformCode != platform || locator.DataLength is 0 or > 4096) continue;
                if (locator.DataOffset > (ulong)file.Length) continue;
                var data = new byte[locator.DataLength];
                file.Read((long)locator.DataOffset, data);
                string name = locator.Decode(data);
                if (name.Length > 0) return name;
            }
        }
        return dynamic.ParentName.Length > 0 ? dynamic.ParentName : null;
    }

    public string FileName => _file.Path;
    public IImageFormat Format { get; }
    public string? BackingFileName { get; }
    public string? BackingFormat => BackingFileName == null ? null : "vpc";
    public IImage? Backing => _backing;
    public long Length { get; private set; }
    public bool IsReadOnly => _file.IsReadOnly;
    public bool IsFixed => _fixed;

    public void AttachBacking(IImage? backing)
    {
        _backing?.Dispose();
        _backing = backing;
    }

    /// <summary>Where a block's bitmap is stored, or -1.</summary>
    private long BlockStart(long block) => _bat[block] == Unallocated ? -1 : 512L * _bat[block];

    public void Read(long offset, Span<byte> buffer)
    {
        BlockDeviceChecks.CheckRange(this, offset, buffer.Length);
        if (_fixed)
        {
            _file.Read(offset, buffer);
            return;
        }
        while (buffer.Length > 0)
        {
            long block = offset / _blockSize;
            int inBlock = (int)(offset % _blockSize);
            int n = Math.Min(buffer.Length, _blockSize - inBlock);
            long start = BlockStart(block);
            if (start < 0) BackingChain.Read(_backing, offset, buffer[..n]);
            else if (!_differencing) _file.Read(start + _bitmapSize + inBlock, buffer[..n]);
            else ReadDifferencing(block, start, offset, buffer[..n]);
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>Runs of sectors whose bitmap bit is set come from this file, the others from the parent.</summary>
    private void ReadDifferencing(long block, long start, long offset, Span<byte> buffer)
    {
        var bitmap = Bitmap(block, start);
        long blockOffset = block * _blockSize;
        while (buffer.Length > 0)
        {
            long rel = offset - blockOffset;
            long relLimit = rel + buffer.Length;
            bool set = IsSet(bitmap, (int)(rel / 512));
            long relEnd = Math.Min(relLimit, (rel / 512 + 1) * 512);
            while (relEnd < relLimit && IsSet(bitmap, (int)(relEnd / 512)) == set) relEnd = Math.Min(relLimit, relEnd + 512);
            int n = (int)(relEnd - rel);
            if (set) _file.Read(start + _bitmapSize + (offset - blockOffset), buffer[..n]);
            else BackingChain.Read(_backing, offset, buffer[..n]);
            buffer = buffer[n..];
            offset += n;
        }
    }

    // The spec's bitmap is MSB first: bit 7 of byte 0 is the block's first sector.
    private static bool IsSet(byte[] bitmap, int sector) => (bitmap[sector >> 3] & (0x80 >> (sector & 7))) != 0;

    private static void Set(byte[] bitmap, int sector) => bitmap[sector >> 3] |= (byte)(0x80 >> (sector & 7));

    private byte[] Bitmap(long block, long start)
    {
        lock (_bitmaps)
        {
            if (_bitmaps.TryGetValue((uint)block, out var cached)) return cached;
            var bitmap = new byte[_bitmapSize];
            _file.Read(start, bitmap);
            if (_bitmaps.Count > 4096) _bitmaps.Clear();
            _bitmaps[(uint)block] = bitmap;
            return bitmap;
        }
    }

    public BlockStatus GetBlockStatus(long offset, long length)
    {
        BlockDeviceChecks.CheckRange(this, offset, length);
        long end = offset + length;
        if (_fixed)
        {
            // qemu answers BDRV_BLOCK_RAW and asks the file layer: holes are "zero" and "data" at their offset.
            long fileLimit = Math.Min(end, _file.Length - VpcFooter.Size);
            if (offset >= fileLimit) return new BlockStatus(offset, length, BlockState.Zero);
            long? data = _file.NextData(offset);
            if (data == null || data >= fileLimit)
                return new BlockStatus(offset, fileLimit - offset, BlockState.Zero | BlockState.Data, HostOffset: offset, HostFile: _file.Path);
            if (data > offset) return new BlockStatus(offset, data.Value - offset, BlockState.Zero | BlockState.Data, HostOffset: offset, HostFile: _file.Path);
            long hole = Math.Min(_file.NextHole(offset), fileLimit);
            return new BlockStatus(offset, hole - offset, BlockState.Data, HostOffset: offset, HostFile: _file.Path);
        }
        long block = offset / _blockSize;
        long runEnd = Math.Min(end, (block + 1) * _blockSize);
        long start = BlockStart(block);
        if (start < 0)
        {
            while (runEnd < end && BlockStart(runEnd / _blockSize) < 0) runEnd = Math.Min(end, runEnd + _blockSize);
            // qemu reports unallocated blocks as zeros; with a parent they are the parent's.
            return new BlockStatus(offset, runEnd - offset, _differencing ? BlockState.Unallocated : BlockState.Zero);
        }
        long host = start + _bitmapSize + offset % _blockSize;
        if (!_differencing) return new BlockStatus(offset, runEnd - offset, BlockState.Data, HostOffset: host, HostFile: _file.Path);
        var bitmap = Bitmap(block, start);
        int sector = (int)(offset % _blockSize / 512);
        bool set = IsSet(bitmap, sector);
        long to = Math.Min(runEnd, block * _blockSize + (sector + 1) * 512L);
        while (to < runEnd && IsSet(bitmap, (int)(to % _blockSize / 512)) == set) to = Math.Min(runEnd, to + 512);
        return set
            ? new BlockStatus(offset, to - offset, BlockState.Data, HostOffset: host, HostFile: _file.Path)
            : new BlockStatus(offset, to - offset, BlockState.Unallocated);
    }

    // A new block's untouched part stays a hole in the file (the file is only extended), as in qemu.
    bool IImage.FillsNewClusters => false;

    public ImageInfo GetInfo() => new()
    {
        Format = Format.Name,
        VirtualSize = Length,
        ActualSize = _file.AllocatedBytes,
        ClusterSize = _fixed ? null : _blockSize,
        DirtyFlag = false,
    };

    public void Flush()
    {
        if (!IsReadOnly) _file.Flush();
    }

    public void Dispose()
    {
        _backing?.Dispose();
        _file.Dispose();
    }
}
