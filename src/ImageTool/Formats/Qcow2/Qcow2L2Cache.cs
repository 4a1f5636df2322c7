using System.Buffers;
using System.Buffers.Binary;
using ImageTool.IO;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// The L2 tables held in memory, by host offset: their entries, the subcluster bitmaps beside them when the image
/// has extended L2 entries (docs/interop/qcow2.txt "Extended L2 Entries"), which tables differ from the file, and
/// how a table is laid out on disk. The image decides when to write back; the cache only says when it is full.
/// </summary>
internal sealed class Qcow2L2Cache(HostFile file, int clusterBits, bool extendedL2)
{
    private const int MaxBytes = 32 << 20;

    private readonly Dictionary<long, ulong[]> _entries = [];
    private readonly Dictionary<long, ulong[]> _bitmaps = [];
    private readonly HashSet<long> _dirty = [];

    private int TableBytes => 1 << clusterBits;

    /// <summary>Entries per table: a cluster of 8-byte entries, or of 16-byte ones with extended L2.</summary>
    public int EntriesPerTable => TableBytes / (extendedL2 ? 16 : 8);

    /// <summary>Another table would pass the memory bound: write back, then <see cref="Clear"/>.</summary>
    public bool IsFull => (long)_entries.Count * TableBytes >= MaxBytes;

    public bool HasDirty => _dirty.Count > 0;

    public bool TryGet(long offset, out ulong[] entries) => _entries.TryGetValue(offset, out entries!);

    /// <summary>Reads and keeps the table at <paramref name="offset"/> (the caller checked alignment and room).</summary>
    public ulong[] Load(long offset)
    {
        var raw = ArrayPool<byte>.Shared.Rent(TableBytes);
        try
        {
            file.Read(offset, raw.AsSpan(0, TableBytes));
            var entries = Decode(raw.AsSpan(0, TableBytes), out var bitmaps);
            Add(offset, entries, bitmaps, dirty: false);
            return entries;
        }
        finally { ArrayPool<byte>.Shared.Return(raw); }
    }

    /// <summary>The subcluster bitmaps of a cached table (extended L2 only).</summary>
    public ulong[] Bitmaps(long offset) => _bitmaps[offset];

    /// <summary>A table that is not (or no longer) the one on disk at <paramref name="offset"/>.</summary>
    public void Add(long offset, ulong[] entries, ulong[]? bitmaps, bool dirty = true)
    {
        _entries[offset] = entries;
        if (bitmaps != null) _bitmaps[offset] = bitmaps;
        if (dirty) _dirty.Add(offset);
    }

    public void MarkDirty(long offset) => _dirty.Add(offset);

    /// <summary>Forgets a table whose cluster was freed; its changes are not written.</summary>
    public void Remove(long offset)
    {
        _entries.Remove(offset);
        _bitmaps.Remove(offset);
        _dirty.Remove(offset);
    }

    /// <summary>Forgets every table; the caller wrote back what it wanted kept.</summary>
    public void Clear()
    {
        _entries.Clear();
        _bitmaps.Clear();
        _dirty.Clear();
    }

    /// <summary>A table as it stands now: the cached one when there is one, else read from the file without caching it (check reads every table).</summary>
    public ulong[] ReadWithoutCaching(long offset, out ulong[]? bitmaps)
    {
        if (_entries.TryGetValue(offset, out var cached))
        {
            bitmaps = _bitmaps.GetValueOrDefault(offset);
            return cached;
        }
        var raw = new byte[TableBytes];
        file.Read(offset, raw);
        return Decode(raw, out bitmaps);
    }

    /// <summary>Writes the changed tables in offset order, each after <paramref name="beforeWrite"/> passed it.</summary>
    public void WriteDirty(Action<long> beforeWrite)
    {
        var raw = ArrayPool<byte>.Shared.Rent(TableBytes);
        try
        {
            foreach (long offset in _dirty.Order())
            {
                beforeWrite(offset);
                Encode(offset, raw.AsSpan(0, TableBytes));
                file.Write(offset, raw.AsSpan(0, TableBytes));
            }
        }
        finally { ArrayPool<byte>.Shared.Return(raw); }
        _dirty.Clear();
    }

    private ulong[] Decode(ReadOnlySpan<byte> raw, out ulong[]? bitmaps)
    {
        var entries = new ulong[EntriesPerTable];
        bitmaps = null;
        if (!extendedL2)
        {
            for (int i = 0; i < entries.Length; i++) entries[i] = BinaryPrimitives.ReadUInt64BigEndian(raw[(i * 8)..]);
            return entries;
        }
        bitmaps = new ulong[EntriesPerTable];
        for (int i = 0; i < entries.Length; i++)
        {
            entries[i] = BinaryPrimitives.ReadUInt64BigEndian(raw[(i * 16)..]);
            bitmaps[i] = BinaryPrimitives.ReadUInt64BigEndian(raw[(i * 16 + 8)..]);
        }
        return entries;
    }

    private void Encode(long offset, Span<byte> raw)
    {
        var entries = _entries[offset];
        if (!extendedL2)
        {
            for (int i = 0; i < entries.Length; i++) BinaryPrimitives.WriteUInt64BigEndian(raw[(i * 8)..], entries[i]);
            return;
        }
        var bitmaps = _bitmaps[offset];
        for (int i = 0; i < entries.Length; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(raw[(i * 16)..], entries[i]);
            BinaryPrimitives.WriteUInt64BigEndian(raw[(i * 16 + 8)..], bitmaps[i]);
        }
    }
}
