using System.Buffers.Binary;
using ImageTool.Info;
using ImageTool.IO;

namespace ImageTool.Formats.Vhdx;

/// <summary>
/// An opened VHDX: two headers, a region table naming the BAT and metadata regions, and payload blocks
/// (1-256 MiB) mapped by the BAT. A log left by an interrupted writer is replayed on a read-write open and
/// refused on a read-only one, as qemu does. New blocks are appended at the end of the file, MiB-aligned.
/// </summary>
internal sealed partial class VhdxImage : IImage, IHostFileRuns
{
    private const long MiB = 1 << 20;
    private const long MaxImageSize = 64L << 40;
    private const long MaxMetadataRegion = 32 * MiB;

    private readonly HostFile _file;
    private readonly VhdxHeader[] _headers;
    private int _current;
    private VhdxMetadata _metadata;
    private ulong[] _bat;
    private long _batOffset;
    private long _batCapacity;
    private readonly long _metadataOffset;
    private readonly int _blockSize;
    private readonly long _chunkRatio;
    private readonly List<(long Start, long End)> _regions;
    private readonly bool _replayedOnOpen;
    private readonly Lock _writeLock = new();
    private bool _headersUpdated;

    private VhdxImage(HostFile file, IImageFormat format, VhdxHeader[] headers, int current, VhdxMetadata metadata,
        ulong[] bat, (long Offset, long Capacity) batRegion, long metadataOffset, long chunkRatio, List<(long, long)> regions, bool replayed)
    {
        _file = file;
        Format = format;
        _headers = headers;
        _current = current;
        _metadata = metadata;
        _bat = bat;
        (_batOffset, _batCapacity) = batRegion;
        _metadataOffset = metadataOffset;
        _blockSize = (int)metadata.BlockSize;
        _chunkRatio = chunkRatio;
        _regions = regions;
        _replayedOnOpen = replayed;
        Length = LengthOf(metadata);
    }

    private static long LengthOf(VhdxMetadata metadata) => (long)(metadata.VirtualSize / metadata.LogicalSectorSize * metadata.LogicalSectorSize);

    public static VhdxImage Open(HostFile file, IImageFormat format, OpenOptions options)
    {
        string name = options.DisplayName ?? file.Path;
        Exception Invalid(string reason) => reason == "Operation not supported"
            ? new UnsupportedFeatureException($"Could not open '{name}': {reason}")
            : new ImageFormatException($"Could not open '{name}': {reason}");

        Span<byte> signature = stackalloc byte[8];
        if (file.ReadAvailable(0, signature) < 8 || !signature.SequenceEqual("vhdxfile"u8)) throw Invalid("Invalid argument");
        var (headers, current) = ReadHeaders(file);
        var header = headers[current];

        bool replayed = false;
        if (VhdxLog.NeedsReplay(file, header, Invalid))
        {
            if (file.IsReadOnly)
                throw new ImageFormatException(
                    $"VHDX image file '{name}' opened read-only, but contains a log that needs to be replayed\n" +
                    $"To replay the log, run:\n{ProgramName.Current} check -r all '{name}'");
            VhdxLog.Replay(file, header, Invalid);
            replayed = true;
        }

        var regions = new List<(long Start, long End)> { (0, MiB), ((long)header.LogOffset, (long)header.LogOffset + header.LogLength) };
        var tableBytes = new byte[VhdxRegionTable.Size];
        file.Read(VhdxRegionTable.Offset1, tableBytes);
        var table = VhdxRegionTable.TryRead(tableBytes) ?? throw Invalid("Invalid argument");
        VhdxRegion? bat = null, meta = null;
        foreach (var entry in table.Entries)
        {
            if (entry.FileOffset % MiB != 0 || entry.Length % MiB != 0 || entry.FileOffset > long.MaxValue / 2) throw Invalid("Invalid argument");
            long start = (long)entry.FileOffset, end = start + entry.Length;
            foreach (var (otherStart, otherEnd) in regions.Where(r => start < r.End && end > r.Start))
            {
                options.Warning?.Invoke($"img: VHDX region {start}-{end} overlaps with region {otherStart}-{otherEnd}");
                throw Invalid("Invalid argument");
            }
            regions.Add((start, end));
            if (entry.Guid == VhdxRegionTable.BatGuid)
            {
                if (bat != null) throw Invalid("Invalid argument");
                bat = entry;
            }
            else if (entry.Guid == VhdxRegionTable.MetadataGuid)
            {
                if (meta != null) throw Invalid("Invalid argument");
                meta = entry;
            }
            else if (entry.Required)
            {
                throw Invalid("Operation not supported");
            }
        }
        if (bat is not { } batRegion || meta is not { } metaRegion) throw Invalid("Invalid argument");

        if (metaRegion.Length < VhdxMetadata.TableSize || metaRegion.Length > MaxMetadataRegion
            || (long)metaRegion.FileOffset + metaRegion.Length > file.Length)
            throw Invalid("Invalid argument");
        var metaBytes = new byte[metaRegion.Length];
        file.Read((long)metaRegion.FileOffset, metaBytes);
        var metadata = VhdxMetadata.Read(metaBytes, Invalid);
        // qemu 7.2 has no differencing support: HasParent with a locator is ENOTSUP, without one EINVAL.
        if (metadata.HasParent) throw Invalid("Invalid argument");
        if (metadata.LogicalSectorSize is not (512 or 4096) || metadata.PhysicalSectorSize is not (512 or 4096)) throw Invalid("Invalid argument");
        if (metadata.BlockSize < MiB || metadata.BlockSize > 256 * MiB || !uint.IsPow2(metadata.BlockSize)) throw Invalid("Invalid argument");
        if (metadata.VirtualSize > MaxImageSize) throw Invalid("Invalid argument");
        long chunkRatio = (1L << 23) * metadata.LogicalSectorSize / metadata.BlockSize;
        long entries = VhdxBatEntry.Count(metadata.VirtualSize, metadata.BlockSize, chunkRatio);
        if (entries > batRegion.Length / 8) throw Invalid("Invalid argument");
        // The BAT must lie in the file: its size is then justified by the file's.
        if ((long)batRegion.FileOffset + entries * 8 > file.Length) throw Invalid("Invalid argument");
        var batBytes = new byte[entries * 8];
        file.Read((long)batRegion.FileOffset, batBytes);
        var table2 = new ulong[entries];
        for (int i = 0; i < table2.Length; i++) table2[i] = BinaryPrimitives.ReadUInt64LittleEndian(batBytes.AsSpan(i * 8));

        var image = new VhdxImage(file, format, headers, current, metadata, table2, ((long)batRegion.FileOffset, batRegion.Length / 8), (long)metaRegion.FileOffset, chunkRatio, regions, replayed);
        if (replayed) image.UpdateHeaders(newDataGuid: false, logGuid: Guid.Empty);
        if (!options.ForRepair && !options.ForCheck)
        {
            string? error = image.BatErrors().FirstOrDefault();
            if (error != null)
            {
                options.Warning?.Invoke("img: " + error);
                throw Invalid("Invalid argument");
            }
        }
        return image;
    }

    /// <summary>qemu's vhdx_parse_header: the valid header with the larger sequence number (equal ones only if identical).</summary>
    private static (VhdxHeader[] Headers, int Current) ReadHeaders(HostFile file)
    {
        var b1 = new byte[VhdxHeader.Size];
        var b2 = new byte[VhdxHeader.Size];
        file.Read(VhdxHeader.Offset1, b1);
        file.Read(VhdxHeader.Offset2, b2);
        var h1 = VhdxHeader.TryRead(b1);
        var h2 = VhdxHeader.TryRead(b2);
        int current;
        if (h1 != null && h2 == null) current = 0;
        else if (h1 == null && h2 != null) current = 1;
        else if (h1 is { } a && h2 is { } b)
        {
            if (a.SequenceNumber > b.SequenceNumber) current = 0;
            else if (b.SequenceNumber > a.SequenceNumber) current = 1;
            else if (b1.AsSpan().SequenceEqual(b2)) current = 0; // Disk2VHD writes two identical headers
            else throw new ImageFormatException("No valid VHDX header found");
        }
        else throw new ImageFormatException("No valid VHDX header found");
        var valid = (h1 ?? h2)!.Value;
        return ([h1 ?? valid, h2 ?? valid], current);
    }

    /// <summary>qemu's vhdx_check_bat_entries: present blocks past the end of the file or over other regions.</summary>
    private IEnumerable<string> BatErrors()
    {
        long fileLength = _file.Length;
        for (long i = 0; i < _bat.Length; i++)
        {
            ulong entry = _bat[i];
            if (VhdxBatEntry.State(entry) != VhdxBatEntry.FullyPresent) continue;
            bool payload = (i + 1) % (_chunkRatio + 1) != 0;
            long offset = VhdxBatEntry.FileOffset(entry);
            long blockLength = Math.Max(0, Math.Min(_blockSize, Length - i * _blockSize));
            if (offset < 0 || offset > long.MaxValue - _blockSize)
                yield return $"VHDX BAT entry {i} offset points after end of file. Image has probably been truncated.";
            else if (offset >= fileLength)
                yield return $"VHDX BAT entry {i} start offset {offset} points after end of file ({fileLength}). Image has probably been truncated.";
            else if (offset + blockLength > fileLength)
                yield return $"VHDX BAT entry {i} end offset {offset + blockLength - 1} points after end of file ({fileLength}). Image has probably been truncated.";
            else if (payload && _regions.Any(r => offset < r.End && offset + _blockSize > r.Start))
                yield return $"VHDX BAT entry {i} overlaps a metadata region";
        }
    }

    public string FileName => _file.Path;
    public IImageFormat Format { get; }
    public string? BackingFileName => null;
    public string? BackingFormat => null;
    public IImage? Backing => null;
    public long Length { get; private set; }
    public bool IsReadOnly => _file.IsReadOnly;
    internal int BlockSize => _blockSize;

    public void AttachBacking(IImage? backing) => backing?.Dispose();

    private ulong Entry(long block) => _bat[VhdxBatEntry.PayloadIndex(block, _chunkRatio)];

    public void Read(long offset, Span<byte> buffer)
    {
        BlockDeviceChecks.CheckRange(this, offset, buffer.Length);
        while (buffer.Length > 0)
        {
            long block = offset / _blockSize;
            int inBlock = (int)(offset % _blockSize);
            int n = Math.Min(buffer.Length, _blockSize - inBlock);
            ulong entry = Entry(block);
            switch (VhdxBatEntry.State(entry))
            {
                case VhdxBatEntry.FullyPresent:
                    _file.Read(VhdxBatEntry.FileOffset(entry) + inBlock, buffer[..n]);
                    break;
                case VhdxBatEntry.PartiallyPresent:
                    throw new IOException("Operation not supported");
                default:
                    buffer[..n].Clear();
                    break;
            }
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>
    /// Present blocks are data at their file offset, ZERO blocks read as zeros, the other states are not stored
    /// (qemu 7.2 has no block status for vhdx and reports everything as data).
    /// </summary>
    public HostRun? FindHostRun(long offset, long length) => HostRun.Of(GetBlockStatus(offset, length), _file);

    public BlockStatus GetBlockStatus(long offset, long length)
    {
        BlockDeviceChecks.CheckRange(this, offset, length);
        long end = offset + length;
        long block = offset / _blockSize;
        ulong entry = Entry(block);
        int state = Kind(entry);
        long runEnd = Math.Min(end, (block + 1) * _blockSize);
        while (runEnd < end)
        {
            long next = runEnd / _blockSize;
            ulong e = Entry(next);
            if (Kind(e) != state) break;
            if (state == VhdxBatEntry.FullyPresent && VhdxBatEntry.FileOffset(e) != VhdxBatEntry.FileOffset(entry) + (next - block) * _blockSize) break;
            runEnd = Math.Min(end, runEnd + _blockSize);
        }
        return state switch
        {
            VhdxBatEntry.FullyPresent => new BlockStatus(offset, runEnd - offset, BlockState.Data,
                HostOffset: VhdxBatEntry.FileOffset(entry) + offset % _blockSize, HostFile: _file.Path),
            VhdxBatEntry.PartiallyPresent => new BlockStatus(offset, runEnd - offset, BlockState.Data),
            VhdxBatEntry.Zero => new BlockStatus(offset, runEnd - offset, BlockState.Zero),
            _ => new BlockStatus(offset, runEnd - offset, BlockState.Unallocated),
        };
    }

    private static int Kind(ulong entry) => VhdxBatEntry.State(entry) switch
    {
        VhdxBatEntry.FullyPresent => VhdxBatEntry.FullyPresent,
        VhdxBatEntry.PartiallyPresent => VhdxBatEntry.PartiallyPresent,
        VhdxBatEntry.Zero => VhdxBatEntry.Zero,
        _ => VhdxBatEntry.NotPresent,
    };

    // A new block's untouched part stays a hole in the file (the file is only extended), as in qemu.
    bool IImage.FillsNewClusters => false;

    public ImageInfo GetInfo() => new()
    {
        Format = Format.Name,
        VirtualSize = Length,
        ActualSize = _file.AllocatedBytes,
        ClusterSize = _blockSize,
        DirtyFlag = false,
    };

    public void Flush()
    {
        if (!IsReadOnly) _file.Flush();
    }

    public void Dispose() => _file.Dispose();
}
