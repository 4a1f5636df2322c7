using System.Buffers;
using System.Buffers.Binary;
using ImageTool.Codecs;
using ImageTool.Formats.Cloop;
using ImageTool.Info;
using ImageTool.IO;

namespace ImageTool.Formats.Dmg;

/// <summary>
/// An opened dmg: the sectors of its "blkx" partitions, each chunk stored raw, as zeros, or zlib/bzip2 compressed; the last
/// chunk read stays decompressed for the next read (qemu keeps one too). lzfse, ADC and other types cannot be read.
/// </summary>
internal sealed class DmgImage : IImage
{
    private const int Sector = 512;

    private readonly HostFile _file;
    private readonly DmgBlockTable _table;
    private readonly Lock _cacheLock = new();
    private byte[] _cache = [];
    private int _cachedChunk = -1;

    private DmgImage(HostFile file, IImageFormat format, DmgBlockTable table, long length)
    {
        _file = file;
        Format = format;
        _table = table;
        Length = length;
    }

    public static DmgImage Open(HostFile file, IImageFormat format, OpenOptions options)
    {
        string Invalid() => $"Could not open '{file.Path}': Invalid argument";
        long kolyOffset = FindKoly(file);
        var raw = new byte[DmgKoly.Size];
        file.Read(kolyOffset, raw);
        var koly = DmgKoly.Read(raw);
        if (!koly.IsConsistent(kolyOffset)) throw new ImageFormatException(Invalid());
        var table = new DmgBlockTable(koly.DataForkOffset);
        try
        {
            if (koly.ResourceForkLength != 0) ReadResourceFork(file, table, koly.ResourceForkOffset, koly.ResourceForkLength);
            else if (koly.PlistLength is > 0 and <= DmgBlockTable.MaxPlistLength)
            {
                var plist = new byte[koly.PlistLength];
                file.Read((long)koly.PlistOffset, plist);
                table.AddPlist(plist);
            }
            else throw new ImageFormatException("Invalid argument");
        }
        catch (DmgTableException e)
        {
            // qemu reports the entry on a line of its own, then fails the open.
            options.Warning?.Invoke($"img: {e.Message}");
            throw new ImageFormatException(Invalid(), e);
        }
        catch (ImageFormatException e) when (e.Message == "Invalid argument")
        {
            throw new ImageFormatException(Invalid(), e);
        }
        if (table.UnknownType is { } type)
        {
            options.Warning?.Invoke(type == DmgChunk.Lzfse
                ? "img: warning: Image contains lzfse compressed chunks, which img cannot decompress: reading them will fail"
                : $"img: warning: Image contains chunks of unknown type {type:x}, accessing them will result in I/O errors");
        }
        return new DmgImage(file, format, table, (long)koly.SectorCount * Sector);
    }

    /// <summary>qemu's search for "koly": in the last 511 bytes of the second-last sector or the first 4 of the last (the file length rounded up to sectors).</summary>
    private static long FindKoly(HostFile file)
    {
        long length = (file.Length + Sector - 1) / Sector * Sector;
        if (length < 512) throw new ImageFormatException("dmg file must be at least 512 bytes long");
        long offset = length > 511 + 512 ? length - 511 - 512 : 0;
        var buffer = new byte[Math.Min(length, 515)];
        file.Read(offset, buffer);
        int at = buffer.AsSpan().IndexOf(DmgKoly.Magic);
        if (at < 0) throw new ImageFormatException("Could not locate UDIF trailer in dmg file");
        return offset + at;
    }

    /// <summary>The classic resource fork: a data offset and length, then resources of (u32 length, bytes), each possibly a mish block.</summary>
    private static void ReadResourceFork(HostFile file, DmgBlockTable table, ulong begin, ulong length)
    {
        var u32 = new byte[4];
        uint ReadU32(ulong at)
        {
            if (at > long.MaxValue) throw new ImageFormatException("Invalid argument");
            file.Read((long)at, u32);
            return BinaryPrimitives.ReadUInt32BigEndian(u32);
        }
        ulong dataOffset = ReadU32(begin);
        if (dataOffset > length) throw new ImageFormatException("Invalid argument");
        ulong count = ReadU32(begin + 8);
        if (count == 0 || dataOffset + count > length) throw new ImageFormatException("Invalid argument");
        ulong offset = begin + dataOffset;
        ulong end = offset + count;
        while (offset < end)
        {
            uint size = ReadU32(offset);
            if (size == 0 || size > end - offset) throw new ImageFormatException("Invalid argument");
            offset += 4;
            var resource = new byte[size];
            file.Read((long)offset, resource);
            table.AddMish(resource);
            offset += size;
        }
    }

    public string FileName => _file.Path;
    public IImageFormat Format { get; }
    public string? BackingFileName => null;
    public string? BackingFormat => null;
    public IImage? Backing => null;
    public long Length { get; }
    public bool IsReadOnly => true;

    public void AttachBacking(IImage? backing)
    {
        if (backing != null) throw new UnsupportedFeatureException("Backing file not supported for file format 'dmg'");
    }

    public void Read(long offset, Span<byte> buffer)
    {
        BlockDeviceChecks.CheckRange(this, offset, buffer.Length);
        while (buffer.Length > 0)
        {
            ulong sector = (ulong)(offset / Sector);
            int index = _table.Find(sector) ?? throw new ImageCorruptException($"Sector {sector} is in no chunk of the dmg block tables");
            var chunk = _table.Chunks[index];
            // Zero chunks may be huge (qemu does not bound them), so positions inside a chunk are counted with care.
            ulong sectorsLeft = unchecked(chunk.Sector + chunk.SectorCount - sector);
            long inSector = offset % Sector;
            long bytesLeft = sectorsLeft > long.MaxValue / Sector ? long.MaxValue : (long)sectorsLeft * Sector - inSector;
            int n = (int)Math.Min(buffer.Length, bytesLeft);
            long inChunk = (long)(sector - chunk.Sector) * Sector + inSector;
            if (chunk.IsZero)
                buffer[..n].Clear();
            else
            {
                lock (_cacheLock)
                {
                    if (_cachedChunk != index)
                    {
                        _cachedChunk = -1;
                        Load(index, chunk);
                        _cachedChunk = index;
                    }
                    _cache.AsSpan((int)inChunk, n).CopyTo(buffer);
                }
            }
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>Decompresses (or copies) one chunk into the cache: exactly its sector count, or the read fails as in qemu.</summary>
    private void Load(int index, DmgChunk chunk)
    {
        int size = (int)chunk.SectorCount * Sector;
        if (_cache.Length < size) _cache = new byte[size];
        var output = _cache.AsSpan(0, size);
        if (chunk.Type is not (DmgChunk.Raw or DmgChunk.Zlib or DmgChunk.Bzip2))
            throw new UnsupportedFeatureException($"Cannot read dmg chunk {index}: {chunk.TypeName} compressed chunks are not supported");
        if (chunk.Offset > (ulong)_file.Length || chunk.Length > (ulong)_file.Length - chunk.Offset)
            throw new ImageCorruptException($"dmg chunk {index} at offset {chunk.Offset} (+{chunk.Length}) lies beyond the end of the file");
        int length = (int)chunk.Length;
        if (chunk.Type == DmgChunk.Raw)
        {
            // A raw chunk shorter than its sectors: qemu leaves the rest of its buffer as it was; we read zeros there.
            output.Clear();
            _file.Read((long)chunk.Offset, output[..Math.Min(length, size)]);
            return;
        }
        var compressed = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            _file.Read((long)chunk.Offset, compressed.AsSpan(0, length));
            bool ok = chunk.Type == DmgChunk.Zlib
                ? CloopBlockCodec.TryInflate(compressed, length, output)
                : Bzip2Native.TryDecompress(compressed.AsSpan(0, length), output);
            if (!ok) throw new ImageCorruptException($"dmg chunk {index} does not decompress to {size} bytes");
        }
        finally { ArrayPool<byte>.Shared.Return(compressed); }
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer) => throw new IOException("Image is opened read-only");

    public void WriteZeroes(long offset, long length, bool mayDeallocate) => throw new IOException("Image is opened read-only");

    // qemu's dmg driver has no block-status callback: everything is data, at no plain host offset.
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
