using System.Buffers.Binary;
using ImageTool.Check;
using ImageTool.Info;
using ImageTool.IO;

namespace ImageTool.Formats.Parallels;

/// <summary>
/// An opened Parallels image: the BAT maps each cluster (tracks sectors) to a host position (in clusters, or in
/// sectors with the old magic); 0 is unallocated. New clusters are appended whole at the data end, as qemu
/// does. While open read-write the header's inuse field holds "Ynot"; a clean close clears it and cuts the file
/// to the data end. An image left in use opens read-only only (check -r repairs it).
/// </summary>
internal sealed class ParallelsImage : IImage, ICheckable
{
    /// <summary>qemu's BDRV_REQUEST_MAX_BYTES.</summary>
    private const long MaxRequestBytes = 0x7FFFFE00;

    private readonly HostFile _file;
    private ParallelsHeader _header;
    private readonly uint[] _bat;
    private readonly long _clusterSize;
    private readonly Lock _writeLock = new();
    private bool _unclean;

    /// <summary>qemu's s->data_end, in sectors: where the next cluster goes.</summary>
    private long _dataEnd;

    private ParallelsImage(HostFile file, IImageFormat format, ParallelsHeader header, uint[] bat, long dataEnd, bool unclean)
    {
        _file = file;
        Format = format;
        _header = header;
        _bat = bat;
        _clusterSize = (long)header.Tracks * 512;
        _dataEnd = dataEnd;
        _unclean = unclean;
        Length = (long)header.VirtualSectors * 512;
    }

    public static ParallelsImage Open(HostFile file, IImageFormat format, OpenOptions options)
    {
        Span<byte> head = stackalloc byte[ParallelsHeader.Size];
        file.Read(0, head);
        if (!ParallelsHeader.HasMagic(head)) throw new ImageFormatException("Image not in Parallels format");
        var header = ParallelsHeader.Read(head);
        header.Validate();
        // qemu reads the whole BAT, and entries past the end of the file read as 0 (unallocated). Only the part
        // the file holds is kept: the header alone must not decide how much memory an open takes.
        long batEnd = ParallelsHeader.Size + header.BatEntries * 4L;
        // qemu reads header and BAT in one request, rounded up to 4 KiB: past its request limit that fails.
        if ((batEnd + 4095) / 4096 * 4096 > MaxRequestBytes) throw new ImageFormatException($"Could not open '{file.Path}': Input/output error");
        long stored = Math.Clamp((file.Length - ParallelsHeader.Size) / 4, 0, header.BatEntries);
        var raw = new byte[stored * 4];
        file.Read(ParallelsHeader.Size, raw);
        var bat = new uint[stored];
        for (int i = 0; i < bat.Length; i++) bat[i] = BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(i * 4));
        long dataEnd = header.DataOffset != 0 ? header.DataOffset : (batEnd + 511) / 512;
        for (int i = 0; i < bat.Length; i++)
        {
            long sector = (long)bat[i] * header.OffsetMultiplier;
            if (sector >= dataEnd) dataEnd = sector + header.Tracks;
        }
        bool unclean = header.InUse == ParallelsHeader.InUseMagic;
        if (unclean && !file.IsReadOnly && !options.ForRepair)
            throw new ImageFormatException("parallels: Image was not closed correctly; cannot be opened read/write");
        var image = new ParallelsImage(file, format, header, bat, dataEnd, unclean);
        if (!file.IsReadOnly)
        {
            image._header = header with { InUse = ParallelsHeader.InUseMagic };
            image.WriteHeader();
            file.Flush();
        }
        return image;
    }

    public string FileName => _file.Path;
    public IImageFormat Format { get; }
    public string? BackingFileName => null;
    public string? BackingFormat => null;
    public IImage? Backing => null;
    public long Length { get; }
    public bool IsReadOnly => _file.IsReadOnly;

    /// <summary>qemu's parallels images take no backing file at create; none is ever recorded in the header.</summary>
    public void AttachBacking(IImage? backing) => backing?.Dispose();

    private void WriteHeader()
    {
        Span<byte> head = stackalloc byte[ParallelsHeader.Size];
        _header.Write(head);
        _file.Write(0, head);
    }

    /// <summary>Host byte offset of a guest cluster, or -1 when unallocated (past the BAT too).</summary>
    private long HostOf(long cluster)
    {
        if (cluster >= _bat.Length) return -1;
        uint entry = Volatile.Read(ref _bat[cluster]);
        return entry == 0 ? -1 : (long)entry * _header.OffsetMultiplier * 512;
    }

    /// <summary>Bytes from <paramref name="offset"/> (at most <paramref name="limit"/>) unallocated, or contiguous on the host.</summary>
    private long Run(long offset, long limit, out long host)
    {
        long cluster = offset / _clusterSize;
        long first = HostOf(cluster);
        long end = offset + limit;
        long runEnd = Math.Min(end, (cluster + 1) * _clusterSize);
        while (runEnd < end)
        {
            long next = runEnd / _clusterSize;
            if (first < 0 && next >= _bat.Length)
            {
                // Past the BAT (a header claiming more sectors than it maps): all unallocated.
                runEnd = end;
                break;
            }
            long h = HostOf(next);
            if (first < 0 ? h >= 0 : h != first + (next - cluster) * _clusterSize) break;
            runEnd = Math.Min(end, runEnd + _clusterSize);
        }
        host = first < 0 ? -1 : first + offset % _clusterSize;
        return runEnd - offset;
    }

    public void Read(long offset, Span<byte> buffer)
    {
        BlockDeviceChecks.CheckRange(this, offset, buffer.Length);
        while (buffer.Length > 0)
        {
            int n = (int)Run(offset, buffer.Length, out long host);
            if (host < 0) buffer[..n].Clear();
            else _file.Read(host, buffer[..n]);
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>qemu's allocate_clusters: a run of unallocated clusters gets consecutive clusters at the data end, then the data is written.</summary>
    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        BlockDeviceChecks.CheckWrite(this, offset, buffer.Length);
        lock (_writeLock)
        {
            while (buffer.Length > 0)
            {
                int n = (int)Run(offset, buffer.Length, out long host);
                if (host < 0)
                {
                    long first = offset / _clusterSize;
                    long count = (offset + n + _clusterSize - 1) / _clusterSize - first;
                    if (first + count > _bat.Length)
                        throw new ImageFormatException(first + count > _header.BatEntries
                            ? "Parallels BAT does not cover the write"
                            : "Parallels BAT entries past the end of the file cannot be allocated");
                    for (long i = 0; i < count; i++)
                    {
                        long unit = _dataEnd / _header.OffsetMultiplier;
                        if (unit > uint.MaxValue) throw new ImageFormatException("Parallels image is full");
                        _bat[first + i] = (uint)unit;
                        _dataEnd += _header.Tracks;
                    }
                    host = HostOf(first) + offset % _clusterSize;
                    _file.Write(host, buffer[..n]);
                    WriteBat((int)first, (int)count);
                }
                else
                {
                    _file.Write(host, buffer[..n]);
                }
                buffer = buffer[n..];
                offset += n;
            }
        }
    }

    /// <summary>The 512-byte sectors of the header area holding BAT entries [first, first+count).</summary>
    private void WriteBat(int first, int count)
    {
        long from = (ParallelsHeader.Size + first * 4L) / 512 * 512;
        long to = Math.Min(ParallelsHeader.Size + _bat.Length * 4L, (ParallelsHeader.Size + (first + count) * 4L + 511) / 512 * 512);
        var raw = new byte[to - from];
        for (long at = from; at < to; at += 4)
        {
            if (at < ParallelsHeader.Size)
            {
                continue;
            }
            BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan((int)(at - from)), _bat[(at - ParallelsHeader.Size) / 4]);
        }
        if (from == 0)
        {
            _header.Write(raw);
        }
        _file.Write(from, raw);
    }

    /// <summary>Unallocated clusters already read as zeros (no backing file): zeros are written over stored data only.</summary>
    public void WriteZeroes(long offset, long length, bool mayDeallocate) => ZeroesByWriting.Write(this, offset, length);

    /// <summary>As qemu's parallels_co_block_status: data at its host offset, or unallocated.</summary>
    public BlockStatus GetBlockStatus(long offset, long length)
    {
        BlockDeviceChecks.CheckRange(this, offset, length);
        long n = Run(offset, length, out long host);
        return host < 0
            ? new BlockStatus(offset, n, BlockState.Unallocated)
            : new BlockStatus(offset, n, BlockState.Data, HostOffset: host, HostFile: _file.Path);
    }

    public void Flush()
    {
        if (!IsReadOnly) _file.Flush();
    }

    /// <summary>qemu reports no driver info for parallels: no cluster size, no dirty flag.</summary>
    public ImageInfo GetInfo() => new()
    {
        Format = Format.Name,
        VirtualSize = Length,
        ActualSize = _file.AllocatedBytes,
    };

    /// <summary>
    /// qemu's parallels_co_check: the in-use flag, BAT entries past the end of the file (cleared by repair), and
    /// space after the last cluster (leaks, cut off by repair).
    /// </summary>
    public CheckReport Check(CheckRepair repair, Action<string> log)
    {
        bool fixErrors = (repair & CheckRepair.Errors) != 0 && !IsReadOnly;
        bool fixLeaks = (repair & CheckRepair.Leaks) != 0 && !IsReadOnly;
        lock (_writeLock)
        {
            long size = _file.Length;
            int corruptions = 0, corruptionsFixed = 0, leaks = 0, leaksFixed = 0;
            if (_unclean)
            {
                log($"{(fixErrors ? "Repairing" : "ERROR")} image was not closed correctly");
                corruptions++;
                if (fixErrors)
                {
                    corruptionsFixed++;
                    _unclean = false;
                }
            }
            long allocated = 0, fragmented = 0, highOffset = 0, previous = 0;
            bool batChanged = false;
            for (int i = 0; i < _bat.Length; i++)
            {
                long off = (long)_bat[i] * _header.OffsetMultiplier * 512;
                if (off == 0)
                {
                    previous = 0;
                    continue;
                }
                if (off > size)
                {
                    log($"{(fixErrors ? "Repairing" : "ERROR")} cluster {i} is outside image");
                    corruptions++;
                    if (fixErrors)
                    {
                        previous = 0;
                        _bat[i] = 0;
                        corruptionsFixed++;
                        batChanged = true;
                        continue;
                    }
                }
                allocated++;
                highOffset = Math.Max(highOffset, off);
                if (previous != 0 && previous + _clusterSize != off) fragmented++;
                previous = off;
            }
            if (batChanged) WriteBat(0, _bat.Length);
            long imageEnd = highOffset + _clusterSize;
            if (size > imageEnd)
            {
                int count = (int)Math.Min(int.MaxValue, (size - imageEnd + _clusterSize - 1) / _clusterSize);
                log($"{(fixLeaks ? "Repairing" : "ERROR")} space leaked at the end of the image {size - imageEnd}");
                leaks += count;
                if (fixLeaks)
                {
                    _file.SetLength(imageEnd);
                    leaksFixed += count;
                }
            }
            // After a repair, the counts are what remains (qemu-img reports the fixed ones separately).
            return new CheckReport
            {
                Corruptions = corruptions - corruptionsFixed,
                CorruptionsFixed = corruptionsFixed,
                Leaks = leaks - leaksFixed,
                LeaksFixed = leaksFixed,
                ImageEndOffset = imageEnd,
                TotalClusters = _header.BatEntries,
                AllocatedClusters = allocated,
                FragmentedClusters = fragmented,
            };
        }
    }

    /// <summary>A clean close (qemu's parallels_close): inuse cleared, the file cut to the data end.</summary>
    public void Dispose()
    {
        try
        {
            if (!IsReadOnly)
            {
                lock (_writeLock)
                {
                    _header = _header with { InUse = 0 };
                    WriteHeader();
                    _file.SetLength(_dataEnd * 512);
                    _file.Flush();
                }
            }
        }
        finally
        {
            _file.Dispose();
        }
    }
}
