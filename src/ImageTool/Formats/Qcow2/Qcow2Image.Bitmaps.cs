using System.Buffers.Binary;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// Persistent dirty bitmaps while the image is open read-write, as qemu keeps them: at open every consistent
/// bitmap is loaded and flagged in-use on disk; writes set the bits of the enabled ("auto") ones; at close each
/// is stored in fresh clusters, a new directory replaces the old one and the old clusters are freed. A bitmap
/// already in use at open is inconsistent and is kept untouched.
/// </summary>
internal sealed partial class Qcow2Image
{
    private const int MinGranularityBits = 9, MaxGranularityBits = 31;

    /// <summary>A bitmap of the open image; <see cref="Bits"/> is null for an inconsistent one.</summary>
    private sealed class LiveBitmap(Qcow2Bitmap entry, byte[]? bits)
    {
        public Qcow2Bitmap Entry { get; set; } = entry;
        public byte[]? Bits { get; set; } = bits;
        public bool Tracks => Bits != null && (Entry.Flags & Qcow2Bitmap.FlagAuto) != 0;
    }

    private List<LiveBitmap>? _liveBitmaps;

    /// <summary>qemu's qcow2_load_dirty_bitmaps for a read-write open: load, then flag in-use in place.</summary>
    private void OpenBitmapsForWriting(long directoryOffset, long directorySize, List<Qcow2Bitmap> bitmaps)
    {
        _liveBitmaps = bitmaps.Select(b => new LiveBitmap(b, b.InUse ? null : LoadBitmapBits(b))).ToList();
        // Only consistent bitmaps are flagged and stored again; with none, qemu leaves the directory alone.
        if (bitmaps.All(b => b.InUse)) return;
        foreach (var live in _liveBitmaps.Where(l => l.Bits != null))
            live.Entry = live.Entry with { Flags = live.Entry.Flags | Qcow2Bitmap.FlagInUse };
        var directory = Qcow2Bitmap.SerializeDirectory(_liveBitmaps.Select(l => l.Entry).ToList());
        if (directory.Length != directorySize) throw new ImageCorruptException("Bitmap directory size does not match its entries");
        CheckOverlap(directoryOffset, directory.Length, Metadata.BitmapDirectory);
        _file.Write(directoryOffset, directory);
        _file.Flush();
    }

    private long BitmapTableSize(int granularityBits)
    {
        long bits = (Length + (1L << granularityBits) - 1) >> granularityBits;
        long bytes = (bits + 7) >> 3;
        return (bytes + ClusterSize - 1) >> _clusterBits;
    }

    /// <summary>
    /// qemu checks every bitmap at open (read-only too) and refuses the image with one of two messages. A bitmaps
    /// extension that the autoclear bit (or a v2 header) disowns is ignored with qemu's warning.
    /// </summary>
    private void ValidateBitmaps()
    {
        if (_header.OtherExtensions.Any(e => e.Type == Qcow2Header.ExtBitmaps)
            && (_header.Version < 3 || (_header.AutoclearFeatures & Qcow2Header.AutoclearBitmaps) == 0))
        {
            _warning?.Invoke(_header.Version < 3
                ? "img: warning: This qcow2 v2 image contains bitmaps, but they may have been modified by a program without persistent bitmap support; so now they must all be considered inconsistent"
                : "img: warning: a program lacking bitmap support modified this file, so all bitmaps are now considered inconsistent");
            _warning?.Invoke(new ImageWarning($"Some clusters may be leaked, run '{ProgramName.Current} check -r' on the image file to fix.", EndsLine: false));
            if (!_file.IsReadOnly)
            {
                // qemu rewrites the header of an image opened for writing without the extension it ignored.
                _header.OtherExtensions.RemoveAll(e => e.Type == Qcow2Header.ExtBitmaps);
                WriteHeader();
            }
        }
        foreach (var b in Qcow2Bitmap.ReadDirectory(_file, _header).Bitmaps) ValidateBitmap(b);
    }

    private void ValidateBitmap(Qcow2Bitmap b)
    {
        bool constraints = b.Type == 1
            && b.GranularityBits is >= MinGranularityBits and <= MaxGranularityBits
            // Every flag but in-use and auto is reserved to qemu 7.2 (extra_data_compatible too): such a bitmap is refused.
            && (b.Flags & ~(Qcow2Bitmap.FlagInUse | Qcow2Bitmap.FlagAuto)) == 0
            && (b.TableOffset & (ClusterSize - 1)) == 0 && b.TableOffset != 0
            && b.TableSize * ClusterSize <= Array.MaxLength;
        if (!constraints) throw new ImageCorruptException($"Bitmap '{b.Name}' doesn't satisfy the constraints");
        if (b.TableSize != BitmapTableSize(b.GranularityBits))
            throw new ImageCorruptException($"Could not read bitmap '{b.Name}' from image: Invalid argument");
    }

    private ulong[] ReadBitmapTable(Qcow2Bitmap b)
    {
        var raw = new byte[b.TableSize * 8];
        _file.Read(b.TableOffset, raw);
        var table = new ulong[b.TableSize];
        for (int i = 0; i < table.Length; i++) table[i] = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(i * 8));
        return table;
    }

    private byte[] LoadBitmapBits(Qcow2Bitmap b)
    {
        var bits = new byte[b.TableSize * ClusterSize];
        var table = ReadBitmapTable(b);
        for (int i = 0; i < table.Length; i++)
        {
            long offset = Qcow2Entry.HostOffset(table[i]);
            var chunk = bits.AsSpan(i * ClusterSize, ClusterSize);
            if (offset != 0) _file.Read(offset, chunk);
            else if ((table[i] & 1) != 0) chunk.Fill(0xFF);
        }
        return bits;
    }

    /// <summary>Sets the bits of every enabled bitmap for a range the guest changed.</summary>
    private void MarkBitmapsDirty(long offset, long length)
    {
        if (_liveBitmaps == null || length <= 0) return;
        foreach (var live in _liveBitmaps)
            if (live.Tracks) SetBitmapRange(live, offset, length);
    }

    /// <summary>Sets the bits covering the guest range [offset, offset + length) in one bitmap.</summary>
    private static void SetBitmapRange(LiveBitmap live, long offset, long length)
    {
        int g = live.Entry.GranularityBits;
        long first = offset >> g, last = (offset + length - 1) >> g;
        var bits = live.Bits!;
        for (long bit = first; bit <= last && (bit >> 3) < bits.Length; bit++)
        {
            if ((bit & 7) == 0 && last - bit >= 7)
            {
                long endByte = Math.Min((last + 1) >> 3, bits.Length);
                bits.AsSpan((int)(bit >> 3), (int)(endByte - (bit >> 3))).Fill(0xFF);
                bit = (endByte << 3) - 1;
                continue;
            }
            bits[bit >> 3] |= (byte)(1 << (int)(bit & 7));
        }
    }

    /// <summary>qemu's qcow2_store_persistent_dirty_bitmaps: new data and tables, a new directory, then the old clusters freed.</summary>
    private void StoreBitmaps()
    {
        if (_liveBitmaps == null || _liveBitmaps.All(l => l.Bits == null)) return;
        var oldTables = new List<(long Offset, long Count)>();
        var oldData = new List<long>();
        var entries = new List<Qcow2Bitmap>();
        foreach (var live in _liveBitmaps)
        {
            if (live.Bits == null)
            {
                entries.Add(live.Entry);
                continue;
            }
            if (live.Entry.TableOffset != 0)
            {
                foreach (ulong e in ReadBitmapTable(live.Entry))
                    if (Qcow2Entry.HostOffset(e) != 0) oldData.Add(Qcow2Entry.HostOffset(e));
                oldTables.Add((live.Entry.TableOffset, ClustersFor(live.Entry.TableSize * 8)));
            }
            var (tableOffset, tableSize) = WriteBitmap(live);
            entries.Add(live.Entry with { Flags = live.Entry.Flags & ~Qcow2Bitmap.FlagInUse, TableOffset = tableOffset, TableSize = tableSize });
        }
        ReplaceDirectory(entries);
        // As qemu: the old data clusters are discarded (holes in the file), the old tables only freed.
        foreach (long offset in oldData) FreeBitmapData(offset);
        foreach (var (offset, count) in oldTables) Refcounts.Free(offset, count);
        Refcounts.FlushBlocks();
        _liveBitmaps = null;
    }

    private void FreeBitmapData(long offset)
    {
        Refcounts.Free(offset, 1);
        _file.PunchHole(offset, ClusterSize);
    }

    /// <summary>
    /// qemu's update_ext_header_and_dir: the directory goes to fresh clusters, the header points at it (or loses the
    /// extension and the autoclear bit when no bitmap is left), then the old directory is freed.
    /// </summary>
    private void ReplaceDirectory(List<Qcow2Bitmap> entries)
    {
        var (oldDirectory, oldDirectorySize) = Qcow2Bitmap.DirectoryLocation(_header);
        // The extension keeps its place: before unknown extensions, as qemu writes it.
        int ext = _header.OtherExtensions.FindIndex(e => e.Type == Qcow2Header.ExtBitmaps);
        if (ext >= 0) _header.OtherExtensions.RemoveAt(ext);
        _header.AutoclearFeatures &= ~Qcow2Header.AutoclearBitmaps;
        if (entries.Count > 0)
        {
            var directory = Qcow2Bitmap.SerializeDirectory(entries);
            long directoryOffset = Refcounts.Allocate(ClustersFor(directory.Length));
            CheckOverlap(directoryOffset, directory.Length);
            _file.Write(directoryOffset, directory);
            Refcounts.FlushBlocks();
            _file.Flush();
            _header.OtherExtensions.Insert(Math.Max(ext, 0), (Qcow2Header.ExtBitmaps, Qcow2Bitmap.Extension(entries.Count, directory.Length, directoryOffset)));
            _header.AutoclearFeatures |= Qcow2Header.AutoclearBitmaps;
        }
        WriteHeader();
        if (oldDirectory != 0) Refcounts.Free(oldDirectory, ClustersFor(oldDirectorySize));
    }

    /// <summary>Writes a bitmap's non-zero clusters and its table into fresh clusters; returns the table's place.</summary>
    private (long Offset, long Size) WriteBitmap(LiveBitmap live)
    {
        int g = live.Entry.GranularityBits;
        long tableSize = BitmapTableSize(g);
        var bits = live.Bits!;
        if (bits.Length < tableSize * ClusterSize) Array.Resize(ref bits, (int)(tableSize * ClusterSize));
        long count = (Length + (1L << g) - 1) >> g;
        // Bits past the end of the disk (a shrunk image) are not kept.
        long keep = count >> 3;
        if ((count & 7) != 0) bits[keep++] &= (byte)((1 << (int)(count & 7)) - 1);
        bits.AsSpan((int)keep).Clear();
        var table = new byte[tableSize * 8];
        for (int i = 0; i < tableSize; i++)
        {
            var chunk = bits.AsSpan(i * ClusterSize, ClusterSize);
            if (!chunk.ContainsAnyExcept((byte)0)) continue;
            long offset = Refcounts.Allocate(1);
            CheckOverlap(offset, ClusterSize);
            _file.Write(offset, chunk);
            BinaryPrimitives.WriteUInt64BigEndian(table.AsSpan(i * 8), (ulong)offset);
        }
        long tableOffset = Refcounts.Allocate(ClustersFor(table.Length));
        CheckOverlap(tableOffset, table.Length);
        _file.Write(tableOffset, table);
        return (tableOffset, tableSize);
    }
}
