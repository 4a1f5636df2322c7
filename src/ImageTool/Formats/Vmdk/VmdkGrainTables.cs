using System.Buffers.Binary;
using System.Runtime.InteropServices;
using ImageTool.IO;

namespace ImageTool.Formats.Vmdk;

/// <summary>
/// The grain directory (held in memory) and a bounded cache of grain tables of one sparse extent.
/// Entries are sector numbers. Updates are written through to the table and to its redundant copy,
/// as qemu does, so both stay in sync; only the primary copy is ever read.
/// </summary>
internal sealed class VmdkGrainTables
{
    /// <summary>Grain tables kept in memory at most (bytes); a 2 KiB table covers 32 MiB of disk.</summary>
    private const long MaxCachedBytes = 32 << 20;

    private readonly HostFile _file;
    private readonly uint[] _gd;
    private readonly uint[]? _rgd;
    private readonly Dictionary<int, uint[]> _cache = [];
    private readonly int _maxCached;
    private readonly Lock _lock = new();

    public int EntriesPerTable { get; }
    public int DirectoryEntries => _gd.Length;
    public ReadOnlySpan<uint> Directory => _gd;
    public ReadOnlySpan<uint> RedundantDirectory => _rgd;

    private VmdkGrainTables(HostFile file, uint[] gd, uint[]? rgd, int entriesPerTable)
    {
        _file = file;
        _gd = gd;
        _rgd = rgd;
        EntriesPerTable = entriesPerTable;
        _maxCached = (int)Math.Max(16, MaxCachedBytes / (entriesPerTable * 4L));
    }

    /// <summary>Loads the directory (and its redundant copy when <paramref name="rgdOffset"/> is not 0).</summary>
    public static VmdkGrainTables Load(HostFile file, long gdOffset, long rgdOffset, int gdEntries, int entriesPerTable)
    {
        long fileLength = file.Length;
        uint[] Read(long offset, string what)
        {
            if (offset < 0 || offset + gdEntries * 4L > fileLength)
                throw new ImageCorruptException(
                    $"{what} of extent '{file.Path}' at byte {offset} lies beyond the end of the file ({fileLength} bytes)");
            var table = new uint[gdEntries];
            file.Read(offset, MemoryMarshal.AsBytes(table.AsSpan()));
            if (!BitConverter.IsLittleEndian) BinaryPrimitives.ReverseEndianness(table, table);
            return table;
        }
        var gd = Read(gdOffset, "Grain directory");
        var rgd = rgdOffset != 0 ? Read(rgdOffset, "Redundant grain directory") : null;
        return new VmdkGrainTables(file, gd, rgd, entriesPerTable);
    }

    /// <summary>The grain table of directory entry <paramref name="index"/>, or null when the entry is 0 (no table).</summary>
    public uint[]? Table(int index)
    {
        uint sector = _gd[index];
        if (sector == 0) return null;
        lock (_lock)
        {
            if (_cache.TryGetValue(index, out var cached)) return cached;
        }
        var table = ReadTable(sector, index);
        lock (_lock)
        {
            if (_cache.TryGetValue(index, out var raced)) return raced;
            if (_cache.Count >= _maxCached)
            {
                using var e = _cache.Keys.GetEnumerator();
                e.MoveNext();
                _cache.Remove(e.Current);
            }
            _cache[index] = table;
            return table;
        }
    }

    /// <summary>Reads a table straight from the file (check uses this for the redundant tables too).</summary>
    public uint[] ReadTable(uint sector, int index)
    {
        long offset = sector * 512L;
        long bytes = EntriesPerTable * 4L;
        if (offset + bytes > _file.Length)
            throw new ImageCorruptException(
                $"Grain table {index} of extent '{_file.Path}' at byte {offset} lies beyond the end of the file");
        var table = new uint[EntriesPerTable];
        _file.Read(offset, MemoryMarshal.AsBytes(table.AsSpan()));
        if (!BitConverter.IsLittleEndian) BinaryPrimitives.ReverseEndianness(table, table);
        return table;
    }

    /// <summary>Sets consecutive entries of one table, in memory, in the table and in the redundant table.</summary>
    public void Set(int index, int first, ReadOnlySpan<uint> values)
    {
        var table = Table(index) ?? throw new UnsupportedFeatureException(
            $"Cannot allocate grains in extent '{_file.Path}': grain directory entry {index} has no grain table");
        values.CopyTo(table.AsSpan(first));
        Span<byte> bytes = MemoryMarshal.AsBytes(table.AsSpan(first, values.Length));
        if (!BitConverter.IsLittleEndian)
        {
            bytes = new byte[values.Length * 4];
            for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(bytes[(i * 4)..], values[i]);
        }
        _file.Write(_gd[index] * 512L + first * 4L, bytes);
        if (_rgd != null && _rgd[index] != 0) _file.Write(_rgd[index] * 512L + first * 4L, bytes);
    }
}
