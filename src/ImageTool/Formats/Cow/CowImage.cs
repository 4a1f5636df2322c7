using System.Buffers;
using ImageTool.Check;
using ImageTool.Info;
using ImageTool.IO;

namespace ImageTool.Formats.Cow;

/// <summary>
/// An opened UML COW file: a bitmap says, per sector, whether the data is in this file (at
/// data_offset + sector * sector_size) or in the raw backing file at the same offset.
/// </summary>
internal sealed class CowImage : IImage, ICheckable
{
    private readonly HostFile _file;
    private readonly CowHeader _header;
    private readonly byte[] _bitmap;
    private readonly int _sectorSize;
    private readonly Lock _writeLock = new();
    private IImage? _backing;

    private CowImage(HostFile file, IImageFormat format, CowHeader header, byte[] bitmap)
    {
        _file = file;
        Format = format;
        _header = header;
        _bitmap = bitmap;
        _sectorSize = (int)header.SectorSize;
    }

    public static CowImage Open(HostFile file, IImageFormat format)
    {
        var head = new byte[CowHeader.MaxSize];
        int n = file.ReadAvailable(0, head);
        var header = CowHeader.Read(head.AsSpan(0, n));
        header.Validate(file.Length);
        if (!file.IsReadOnly && header.Version != 3)
            throw new UnsupportedFeatureException($"cow version {header.Version} images can only be opened read-only (img writes version 3)");
        var bitmap = new byte[header.BitmapLength];
        file.Read(header.BitmapOffset, bitmap);
        return new CowImage(file, format, header, bitmap);
    }

    internal CowHeader Header => _header;

    public string FileName => _file.Path;
    public IImageFormat Format { get; }
    public string? BackingFileName => _header.BackingFile.Length == 0 ? null : _header.BackingFile;

    /// <summary>UML's backing file is always a plain file.</summary>
    public string? BackingFormat => BackingFileName == null ? null : "raw";

    public IImage? Backing => _backing;

    // The disk is whole 512-byte sectors of the header size, as UML's ubd driver sets its capacity.
    public long Length => (long)(_header.Size / 512 * 512);
    public bool IsReadOnly => _file.IsReadOnly;

    /// <summary>UML's rule: the backing file must still have the size and mtime (seconds) the header recorded.</summary>
    public void AttachBacking(IImage? backing)
    {
        if (backing != null)
        {
            var info = new FileInfo(backing.FileName);
            if (!info.Exists) throw new ImageFormatException($"Could not open '{backing.FileName}': No such file or directory");
            if ((ulong)info.Length != _header.Size)
                throw new ImageFormatException($"Size mismatch ({_header.Size} vs {info.Length}) of COW header vs backing file");
            long mtime = (uint)new DateTimeOffset(info.LastWriteTimeUtc).ToUnixTimeSeconds();
            if (mtime != _header.Mtime)
                throw new ImageFormatException($"mtime mismatch ({_header.Mtime} vs {mtime}) of COW header vs backing file");
        }
        _backing?.Dispose();
        _backing = backing;
    }

    private bool IsSet(long sector) =>
        sector < _header.BitmapSectors && (_bitmap[sector >> 3] & (1 << (int)(sector & 7))) != 0;

    /// <summary>Bytes from <paramref name="offset"/> (at most <paramref name="limit"/>) whose sectors share one bitmap state.</summary>
    private long Run(long offset, long limit, out bool set)
    {
        long sector = offset / _sectorSize;
        set = IsSet(sector);
        long stop = offset + limit;
        long stopSector = (stop + _sectorSize - 1) / _sectorSize;
        long s = sector + 1;
        // Whole bitmap bytes in the run's state are skipped at once: a disk of many GiB has a bitmap of many MiB.
        while (s < stopSector)
        {
            if (s >= _header.BitmapSectors)
            {
                if (!set) s = stopSector; // sectors past the bitmap are never stored
                break;
            }
            if ((s & 7) == 0)
            {
                long lastByte = Math.Min(_header.BitmapSectors, stopSector) >> 3;
                if (lastByte > s >> 3)
                {
                    int differs = _bitmap.AsSpan((int)(s >> 3), (int)(lastByte - (s >> 3))).IndexOfAnyExcept(set ? (byte)0xff : (byte)0);
                    if (differs < 0)
                    {
                        s = lastByte << 3;
                        continue;
                    }
                    s += (long)differs << 3;
                }
            }
            if (IsSet(s) != set) break;
            s++;
        }
        return Math.Min(s * _sectorSize, stop) - offset;
    }

    public void Read(long offset, Span<byte> buffer)
    {
        BlockDeviceChecks.CheckRange(this, offset, buffer.Length);
        while (buffer.Length > 0)
        {
            int n = (int)Run(offset, buffer.Length, out bool set);
            if (set) _file.Read(_header.DataOffset + offset, buffer[..n]);
            else BackingChain.Read(_backing, offset, buffer[..n]);
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>Writes data first, then ORs in the bitmap bits, as UML does; partial sectors are completed from the current content.</summary>
    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        BlockDeviceChecks.CheckWrite(this, offset, buffer.Length);
        if (buffer.Length == 0) return;
        lock (_writeLock)
        {
            long start = offset / _sectorSize * _sectorSize;
            long end = (offset + buffer.Length + _sectorSize - 1) / _sectorSize * _sectorSize;
            if (start == offset && end == offset + buffer.Length)
            {
                _file.Write(_header.DataOffset + offset, buffer);
            }
            else
            {
                var merged = ArrayPool<byte>.Shared.Rent((int)(end - start));
                try
                {
                    var span = merged.AsSpan(0, (int)(end - start));
                    Read(start, span[.._sectorSize]);
                    Read(end - _sectorSize, span[^_sectorSize..]);
                    buffer.CopyTo(span[(int)(offset - start)..]);
                    _file.Write(_header.DataOffset + start, span);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(merged);
                }
            }
            SetBits(start / _sectorSize, end / _sectorSize);
        }
    }

    private void SetBits(long first, long end)
    {
        bool changed = false;
        for (long s = first; s < end; s++)
        {
            int mask = 1 << (int)(s & 7);
            if ((_bitmap[s >> 3] & mask) != 0) continue;
            _bitmap[s >> 3] |= (byte)mask;
            changed = true;
        }
        if (!changed) return;
        long from = first >> 3, to = (end - 1) >> 3;
        _file.Write(_header.BitmapOffset + from, _bitmap.AsSpan((int)from, (int)(to - from + 1)));
    }

    /// <summary>Sectors not in this file read as zeros without a backing file, so only stored sectors need writing.</summary>
    public void WriteZeroes(long offset, long length, bool mayDeallocate) => ZeroesByWriting.Write(this, offset, length);

    public BlockStatus GetBlockStatus(long offset, long length)
    {
        BlockDeviceChecks.CheckRange(this, offset, length);
        long n = Run(offset, length, out bool set);
        return set
            ? new BlockStatus(offset, n, BlockState.Data, HostOffset: _header.DataOffset + offset, HostFile: _file.Path)
            : new BlockStatus(offset, n, BlockState.Unallocated);
    }

    public void Flush() => _file.Flush();

    // qemu's cow driver reported no driver info: no cluster size, no dirty flag.
    public ImageInfo GetInfo() => new()
    {
        Format = Format.Name,
        VirtualSize = Length,
        ActualSize = _file.AllocatedBytes,
    };

    /// <summary>Header and bitmap were validated at open; here every stored sector must lie in the disk and in the file.</summary>
    public CheckReport Check(CheckRepair repair, Action<string> log)
    {
        long sectors = (long)((_header.Size + _header.SectorSize - 1) / _header.SectorSize);
        long fileLength = _file.Length;
        long allocated = 0;
        int corruptions = 0;
        for (long s = 0; s < _header.BitmapSectors; s++)
        {
            if (!IsSet(s)) continue;
            allocated++;
            if (s >= sectors)
            {
                log($"ERROR bitmap bit set for sector {s}, beyond the end of the disk ({sectors} sectors)");
                corruptions++;
            }
            else if (_header.DataOffset + (s + 1) * _sectorSize > fileLength)
            {
                log($"ERROR data of sector {s} lies beyond the end of the file ({fileLength} bytes)");
                corruptions++;
            }
        }
        if (_header.Version < 3 && _header.BitmapSectors < sectors)
            log($"Warning: the version {_header.Version} bitmap covers {_header.BitmapSectors} of {sectors} sectors; the rest always reads from the backing file");
        return new CheckReport
        {
            Corruptions = corruptions,
            ImageEndOffset = fileLength,
            TotalClusters = sectors,
            AllocatedClusters = allocated,
        };
    }

    public void Dispose()
    {
        _backing?.Dispose();
        _file.Dispose();
    }
}
