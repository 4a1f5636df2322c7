using System.Buffers;
using System.Buffers.Binary;
using ImageTool.Check;
using ImageTool.Info;
using ImageTool.IO;

namespace ImageTool.Formats.Vdi;

/// <summary>
/// An opened VDI image: a block map gives, per 1 MiB block, the index of its data block after the data
/// offset, or 0xffffffff (never written) / 0xfffffffe (discarded), both reading as zeros. As qemu does,
/// a new block is appended whole (zero padded) at index blocks_allocated, then the header and the changed
/// block-map sectors are written.
/// </summary>
internal sealed partial class VdiImage : IImage, ICheckable
{
    private readonly HostFile _file;
    private VdiHeader _header;
    private uint[] _bmap;
    private readonly int _blockSize;
    private readonly Lock _writeLock = new();
    private uint _blocksAllocated;

    private VdiImage(HostFile file, IImageFormat format, VdiHeader header, uint[] bmap)
    {
        _file = file;
        Format = format;
        _header = header;
        _bmap = bmap;
        _blockSize = (int)header.BlockSize;
        _blocksAllocated = header.BlocksAllocated;
        Length = (long)header.RoundedDiskSize;
    }

    public static VdiImage Open(HostFile file, IImageFormat format)
    {
        var head = new byte[VdiHeader.Size];
        file.Read(0, head);
        var header = VdiHeader.Read(head);
        header.Validate();
        // qemu reads the whole map, and entries past the end of the file read as 0 (block index 0). Only the
        // part the file holds is kept: the header alone must not decide how much memory an open takes.
        long stored = Math.Clamp((file.Length - header.OffsetBmap) / 4, 0, header.BlocksInImage);
        var raw = new byte[stored * 4];
        file.Read(header.OffsetBmap, raw);
        var bmap = new uint[stored];
        for (int i = 0; i < bmap.Length; i++) bmap[i] = BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(i * 4));
        return new VdiImage(file, format, header, bmap);
    }

    public string FileName => _file.Path;
    public IImageFormat Format { get; }
    public string? BackingFileName => null;
    public string? BackingFormat => null;
    public IImage? Backing => null;
    public long Length { get; private set; }
    public bool IsReadOnly => _file.IsReadOnly;

    /// <summary>VDI has no backing files (differencing VDIs are refused at open, as qemu does).</summary>
    public void AttachBacking(IImage? backing) => backing?.Dispose();

    private static bool IsAllocated(uint entry) => entry < VdiHeader.Discarded;

    /// <summary>The map entry of a block; past the part of the map the file holds, 0 (as qemu reads it).</summary>
    private uint Entry(long block) => block < _bmap.Length ? Volatile.Read(ref _bmap[block]) : 0;

    private long DataOffset(uint entry) => _header.OffsetData + (long)entry * _blockSize;

    public void Read(long offset, Span<byte> buffer)
    {
        BlockDeviceChecks.CheckRange(this, offset, buffer.Length);
        while (buffer.Length > 0)
        {
            long block = offset / _blockSize;
            int inBlock = (int)(offset % _blockSize);
            int n = Math.Min(buffer.Length, _blockSize - inBlock);
            uint entry = Entry(block);
            if (!IsAllocated(entry))
            {
                for (long next = block + 1; n < buffer.Length && !IsAllocated(Entry(next)); next++)
                    n = Math.Min(buffer.Length, n + _blockSize);
                buffer[..n].Clear();
            }
            else
            {
                // Blocks stored one after another are read with one call.
                for (long next = block + 1; n < buffer.Length && Entry(next) == entry + (next - block); next++)
                    n = Math.Min(buffer.Length, n + _blockSize);
                _file.Read(DataOffset(entry) + inBlock, buffer[..n]);
            }
            buffer = buffer[n..];
            offset += n;
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        BlockDeviceChecks.CheckWrite(this, offset, buffer.Length);
        lock (_writeLock)
        {
            long first = -1, last = -1;
            byte[]? whole = null;
            try
            {
                while (buffer.Length > 0)
                {
                    long block = offset / _blockSize;
                    int inBlock = (int)(offset % _blockSize);
                    int n = Math.Min(buffer.Length, _blockSize - inBlock);
                    uint entry = Entry(block);
                    if (IsAllocated(entry))
                    {
                        _file.Write(DataOffset(entry) + inBlock, buffer[..n]);
                    }
                    else
                    {
                        entry = AllocateIndex();
                        if (n == _blockSize)
                        {
                            _file.Write(DataOffset(entry), buffer[..n]);
                        }
                        else
                        {
                            whole ??= ArrayPool<byte>.Shared.Rent(_blockSize);
                            var span = whole.AsSpan(0, _blockSize);
                            span.Clear();
                            buffer[..n].CopyTo(span[inBlock..]);
                            _file.Write(DataOffset(entry), span);
                        }
                        Volatile.Write(ref _bmap[block], entry);
                        if (first < 0) first = block;
                        last = block;
                    }
                    buffer = buffer[n..];
                    offset += n;
                }
            }
            finally
            {
                if (whole != null) ArrayPool<byte>.Shared.Return(whole);
                if (first >= 0) WriteMetadata(first, last);
            }
        }
    }

    private uint AllocateIndex()
    {
        if (_blocksAllocated >= VdiHeader.Discarded)
            throw new ImageFormatException("VDI image has no free block index left");
        return _blocksAllocated++;
    }

    /// <summary>qemu's order: the header sector (new allocation count), then the block-map sectors that changed.</summary>
    private void WriteMetadata(long first, long last)
    {
        var head = new byte[VdiHeader.Size];
        _header.WriteUpdated(head, (ulong)Length, _blocksAllocated);
        _file.Write(0, head);
        const int perSector = VdiHeader.SectorBytes / 4;
        long firstSector = first / perSector, lastSector = last / perSector;
        var raw = new byte[(lastSector - firstSector + 1) * VdiHeader.SectorBytes];
        Array.Fill(raw, (byte)0);
        for (long i = firstSector * perSector; i < Math.Min(_bmap.Length, (lastSector + 1) * perSector); i++)
            BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan((int)((i - firstSector * perSector) * 4)), _bmap[i]);
        _file.Write(_header.OffsetBmap + firstSector * VdiHeader.SectorBytes, raw);
    }

    /// <summary>Blocks not stored read as zeros, so only stored blocks get zeros written (qemu writes zeros too: no zero flag).</summary>
    public void WriteZeroes(long offset, long length, bool mayDeallocate)
    {
        BlockDeviceChecks.CheckWrite(this, offset, length);
        var zeros = ArrayPool<byte>.Shared.Rent(_blockSize);
        try
        {
            Array.Clear(zeros, 0, _blockSize);
            long end = offset + length;
            while (offset < end)
            {
                long block = offset / _blockSize;
                int n = (int)Math.Min(end - offset, _blockSize - offset % _blockSize);
                if (IsAllocated(Entry(block))) Write(offset, zeros.AsSpan(0, n));
                offset += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(zeros);
        }
    }

    /// <summary>
    /// As qemu's vdi_co_block_status: blocks not stored are known zeros (VDI has no backing file), stored
    /// blocks are data at their host offset; in a static image the host file's holes also read as zeros.
    /// </summary>
    public BlockStatus GetBlockStatus(long offset, long length)
    {
        BlockDeviceChecks.CheckRange(this, offset, length);
        long end = offset + length;
        long block = offset / _blockSize;
        uint entry = Entry(block);
        long runEnd = Math.Min(end, (block + 1) * _blockSize);
        if (!IsAllocated(entry))
        {
            while (runEnd < end && !IsAllocated(Entry(runEnd / _blockSize))) runEnd = Math.Min(end, runEnd + _blockSize);
            return new BlockStatus(offset, runEnd - offset, BlockState.Zero);
        }
        while (runEnd < end && Entry(runEnd / _blockSize) == entry + (runEnd / _blockSize - block))
            runEnd = Math.Min(end, runEnd + _blockSize);
        long host = DataOffset(entry) + offset % _blockSize;
        var state = BlockState.Data;
        if (_header.ImageType == VdiHeader.TypeStatic)
        {
            long? data = _file.NextData(host);
            if (data == null || data > host)
            {
                state |= BlockState.Zero;
                runEnd = Math.Min(runEnd, data == null ? end : offset + (data.Value - host));
            }
            else
            {
                runEnd = Math.Min(runEnd, offset + (_file.NextHole(host) - host));
            }
            runEnd = Math.Max(runEnd, offset + 1);
        }
        return new BlockStatus(offset, runEnd - offset, state, HostOffset: host, HostFile: _file.Path);
    }

    public void Flush()
    {
        if (!IsReadOnly) _file.Flush();
    }

    public ImageInfo GetInfo() => new()
    {
        Format = Format.Name,
        VirtualSize = Length,
        ActualSize = _file.AllocatedBytes,
        ClusterSize = _blockSize,
        DirtyFlag = false,
    };

    /// <summary>qemu's vdi check: every stored index below blocks_in_image and used once, the allocation count right; no repair.</summary>
    public CheckReport Check(CheckRepair repair, Action<string> log)
    {
        if (repair != CheckRepair.None) throw new UnsupportedFeatureException(Operations.CheckOperation.NotSupportedMessage);
        int corruptions = 0;
        uint allocated = 0;
        uint blocks = _header.BlocksInImage;
        var used = new HashSet<uint>();
        for (long block = 0; block < blocks; block++)
        {
            uint entry = Entry(block);
            if (block >= _bmap.Length && used.Contains(0))
            {
                // The rest of a map the file does not hold: every entry is 0, each one a repeat of index 0.
                long repeats = blocks - block;
                allocated += (uint)repeats;
                corruptions += (int)Math.Min(int.MaxValue, repeats);
                for (long i = 0; i < Math.Min(repeats, 100); i++) log("ERROR: block index 0 also used by 0");
                if (repeats > 100) log($"ERROR: {repeats - 100} more block map entries past the end of the file also use index 0");
                break;
            }
            if (!IsAllocated(entry)) continue;
            if (entry < blocks)
            {
                allocated++;
                if (!used.Add(entry))
                {
                    // qemu prints the index twice here.
                    log($"ERROR: block index {entry} also used by {entry}");
                    corruptions++;
                }
            }
            else
            {
                log($"ERROR: block index {block} too large, is {entry}");
                corruptions++;
            }
        }
        if (allocated != _blocksAllocated)
        {
            log($"ERROR: allocated blocks mismatch, is {allocated}, should be {_blocksAllocated}");
            corruptions++;
        }
        return new CheckReport { Corruptions = corruptions, StatisticsUnavailable = true };
    }

    public void Dispose() => _file.Dispose();
}
