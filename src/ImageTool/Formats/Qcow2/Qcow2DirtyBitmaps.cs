using System.Buffers.Binary;
using ImageTool.IO;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// The persistent dirty bitmaps of one open qcow2 image, kept as qemu keeps them. At a read-write open every
/// consistent bitmap is loaded and flagged in-use on disk; writes set the bits of the enabled ("auto") ones;
/// <c>img bitmap</c>'s actions (qemu's block-dirty-bitmap-* semantics and messages) change them in memory; at close
/// each is stored in fresh clusters, a new directory replaces the old one and the old clusters are freed. A bitmap
/// already in use at open is inconsistent and is kept untouched. A removal is written to the directory at once.
/// </summary>
internal sealed class Qcow2DirtyBitmaps(
    HostFile file,
    Qcow2Header header,
    Qcow2HeaderStore headerStore,
    Func<Qcow2Refcounts> refcounts,
    Action<long, long, Qcow2Image.Metadata> checkOverlap)
{
    private const int MinGranularityBits = 9, MaxGranularityBits = 31;
    private const int MaxBitmapNameSize = 1023;

    /// <summary>A bitmap of the open image; <see cref="Bits"/> is null for an inconsistent one.</summary>
    private sealed class LiveBitmap(Qcow2Bitmap entry, byte[]? bits)
    {
        public Qcow2Bitmap Entry { get; set; } = entry;
        public byte[]? Bits { get; set; } = bits;
        public bool Tracks => Bits != null && (Entry.Flags & Qcow2Bitmap.FlagAuto) != 0;
    }

    /// <summary>Null until the image is opened for writing, and again once stored at close.</summary>
    private List<LiveBitmap>? _live;

    private Qcow2Refcounts Refcounts => refcounts();
    private int ClusterBits => header.ClusterBits;
    private int ClusterSize => 1 << ClusterBits;
    private long Length => (long)header.Size & ~511L;
    private long ClustersFor(long bytes) => (bytes + ClusterSize - 1) >> ClusterBits;

    /// <summary>The bitmaps as the directory lists them (also of an image opened read-only).</summary>
    public IReadOnlyList<Qcow2Bitmap> Stored => Qcow2Bitmap.ReadDirectory(file, header).Bitmaps;

    /// <summary>Whether the image has a bitmap, stored or added since it was opened.</summary>
    public bool Any => _live is { Count: > 0 } || Stored.Count > 0;

    /// <summary>qcow2 v2 images cannot hold bitmaps.</summary>
    public bool CanStore => header.Version >= 3;

    /// <summary>qemu's default granularity: the cluster size, within 4 KiB … 64 KiB.</summary>
    public long DefaultGranularity => Math.Clamp(ClusterSize, 4096, 65536);

    /// <summary>
    /// qemu checks every bitmap at open (read-only too) and refuses the image with one of two messages. A bitmaps
    /// extension that the autoclear bit (or a v2 header) disowns is ignored with qemu's warning.
    /// </summary>
    public void Validate(Action<ImageWarning>? warning)
    {
        if (header.OtherExtensions.Any(e => e.Type == Qcow2Header.ExtBitmaps)
            && (header.Version < 3 || (header.AutoclearFeatures & Qcow2Header.AutoclearBitmaps) == 0))
        {
            warning?.Invoke(header.Version < 3
                ? "img: warning: This qcow2 v2 image contains bitmaps, but they may have been modified by a program without persistent bitmap support; so now they must all be considered inconsistent"
                : "img: warning: a program lacking bitmap support modified this file, so all bitmaps are now considered inconsistent");
            warning?.Invoke(new ImageWarning($"Some clusters may be leaked, run '{ProgramName.Current} check -r' on the image file to fix.", EndsLine: false));
            if (!file.IsReadOnly)
            {
                // qemu rewrites the header of an image opened for writing without the extension it ignored.
                header.OtherExtensions.RemoveAll(e => e.Type == Qcow2Header.ExtBitmaps);
                headerStore.WriteAll();
            }
        }
        foreach (var b in Stored) Validate(b);
    }

    private void Validate(Qcow2Bitmap b)
    {
        bool constraints = b.Type == 1
            && b.GranularityBits is >= MinGranularityBits and <= MaxGranularityBits
            // Every flag but in-use and auto is reserved to qemu 7.2 (extra_data_compatible too): such a bitmap is refused.
            && (b.Flags & ~(Qcow2Bitmap.FlagInUse | Qcow2Bitmap.FlagAuto)) == 0
            && (b.TableOffset & (ClusterSize - 1)) == 0 && b.TableOffset != 0
            && b.TableSize * ClusterSize <= Array.MaxLength;
        if (!constraints) throw new ImageCorruptException($"Bitmap '{b.Name}' doesn't satisfy the constraints");
        if (b.TableSize != TableSize(b.GranularityBits))
            throw new ImageCorruptException($"Could not read bitmap '{b.Name}' from image: Invalid argument");
    }

    /// <summary>qemu's qcow2_load_dirty_bitmaps for a read-write open: load, then flag in-use in place.</summary>
    public void OpenForWriting(long directoryOffset, long directorySize, List<Qcow2Bitmap> bitmaps)
    {
        _live = bitmaps.Select(b => new LiveBitmap(b, b.InUse ? null : LoadBits(b))).ToList();
        // Only consistent bitmaps are flagged and stored again; with none, qemu leaves the directory alone.
        if (bitmaps.All(b => b.InUse)) return;
        foreach (var live in _live.Where(l => l.Bits != null))
            live.Entry = live.Entry with { Flags = live.Entry.Flags | Qcow2Bitmap.FlagInUse };
        var directory = Qcow2Bitmap.SerializeDirectory(_live.Select(l => l.Entry).ToList());
        if (directory.Length != directorySize) throw new ImageCorruptException("Bitmap directory size does not match its entries");
        checkOverlap(directoryOffset, directory.Length, Qcow2Image.Metadata.BitmapDirectory);
        file.Write(directoryOffset, directory);
        file.Flush();
    }

    /// <summary>qemu resizes the bitmaps with the image, which an inconsistent one cannot be.</summary>
    public void ThrowIfAnyInconsistent()
    {
        if (_live?.FirstOrDefault(b => b.Bits == null) is { } stale) throw Inconsistent(stale.Entry.Name);
    }

    /// <summary>Sets the bits of every enabled bitmap for a range the guest changed.</summary>
    public void MarkDirty(long offset, long length)
    {
        if (_live == null || length <= 0) return;
        foreach (var live in _live)
            if (live.Tracks) SetRange(live, offset, length);
    }

    /// <summary>A consistent bitmap's bits: the live ones when open for writing, else as stored.</summary>
    public BitmapContents Read(string name)
    {
        if (_live != null)
        {
            var live = Usable(name);
            return new BitmapContents(1L << live.Entry.GranularityBits, live.Bits!);
        }
        var stored = Stored.FirstOrDefault(b => b.Name == name) ?? throw NotFound(name);
        if (stored.InUse) throw Inconsistent(name);
        return new BitmapContents(1L << stored.GranularityBits, LoadBits(stored));
    }

    public void Add(string name, long? granularity, bool disabled)
    {
        var bitmaps = Writable;
        long g = granularity ?? DefaultGranularity;
        if (name.Length == 0) throw new ImageFormatException("Bitmap name cannot be empty");
        if (g < 512 || (g & (g - 1)) != 0) throw new ImageFormatException("Granularity must be power of 2 and at least 512");
        if (bitmaps.Any(b => b.Entry.Name == name)) throw new ImageFormatException($"Bitmap already exists: {name}");
        if (System.Text.Encoding.UTF8.GetByteCount(name) > MaxBitmapNameSize)
            throw new ImageFormatException($"Can't make bitmap '{name}' persistent: Name length exceeds maximum ({MaxBitmapNameSize} characters)");
        if (header.Version < 3) throw new UnsupportedFeatureException($"Can't make bitmap '{name}' persistent: Cannot store dirty bitmaps in qcow2 v2 files");
        int bits = System.Numerics.BitOperations.Log2((ulong)g);
        if (bits > MaxGranularityBits) throw new ImageFormatException($"Can't make bitmap '{name}' persistent: Granularity exceeds maximum (2147483648 bytes)");
        long tableSize = TableSize(bits);
        var entry = new Qcow2Bitmap(name, disabled ? 0 : Qcow2Bitmap.FlagAuto, bits, 0, tableSize);
        bitmaps.Add(new LiveBitmap(entry, new byte[tableSize * ClusterSize]));
    }

    public void Remove(string name)
    {
        var bitmap = Find(name);
        _live!.Remove(bitmap);
        if (bitmap.Entry.TableOffset == 0) return; // added in this session, never stored
        var onDisk = Qcow2Bitmap.ReadDirectory(file, header).Bitmaps;
        ReplaceDirectory(onDisk.Where(b => b.Name != name).ToList());
        foreach (ulong e in ReadTable(bitmap.Entry))
            if (Qcow2Entry.HostOffset(e) != 0) FreeData(Qcow2Entry.HostOffset(e));
        Refcounts.Free(bitmap.Entry.TableOffset, ClustersFor(bitmap.Entry.TableSize * 8));
        Refcounts.FlushBlocks();
        file.Flush();
    }

    public void Clear(string name) => Array.Clear(Usable(name).Bits!);

    public void Enable(string name, bool enabled)
    {
        var bitmap = Usable(name);
        uint flags = enabled ? bitmap.Entry.Flags | Qcow2Bitmap.FlagAuto : bitmap.Entry.Flags & ~Qcow2Bitmap.FlagAuto;
        bitmap.Entry = bitmap.Entry with { Flags = flags };
    }

    /// <summary>ORs the bits of <paramref name="source"/> (of this image or <paramref name="from"/>) into <paramref name="target"/>.</summary>
    public void Merge(string source, string target, Qcow2DirtyBitmaps? from)
    {
        var into = Usable(target);
        byte[] bits;
        int sourceBits;
        if (from == null || from == this)
        {
            var s = Usable(source);
            (bits, sourceBits) = (s.Bits!, s.Entry.GranularityBits);
        }
        else
        {
            var s = from.Stored.FirstOrDefault(b => b.Name == source) ?? throw NotFound(source);
            if (s.InUse) throw Inconsistent(source);
            if (from.Length != Length) throw new ImageFormatException($"Bitmaps '{source}' and '{target}' are incompatible and can't be merged");
            from.Validate(s);
            (bits, sourceBits) = (from.LoadBits(s), s.GranularityBits);
        }
        long count = (Length + (1L << sourceBits) - 1) >> sourceBits;
        for (long bit = 0; bit < count; bit++)
        {
            if ((bits[bit >> 3] & (1 << (int)(bit & 7))) == 0) continue;
            long start = bit << sourceBits;
            SetRange(into, start, Math.Min(1L << sourceBits, Length - start));
        }
    }

    /// <summary>qemu's qcow2_store_persistent_dirty_bitmaps: new data and tables, a new directory, then the old clusters freed.</summary>
    public void Store()
    {
        if (_live == null || _live.All(l => l.Bits == null)) return;
        var oldTables = new List<(long Offset, long Count)>();
        var oldData = new List<long>();
        var entries = new List<Qcow2Bitmap>();
        foreach (var live in _live)
        {
            if (live.Bits == null)
            {
                entries.Add(live.Entry);
                continue;
            }
            if (live.Entry.TableOffset != 0)
            {
                foreach (ulong e in ReadTable(live.Entry))
                    if (Qcow2Entry.HostOffset(e) != 0) oldData.Add(Qcow2Entry.HostOffset(e));
                oldTables.Add((live.Entry.TableOffset, ClustersFor(live.Entry.TableSize * 8)));
            }
            var (tableOffset, tableSize) = Write(live);
            entries.Add(live.Entry with { Flags = live.Entry.Flags & ~Qcow2Bitmap.FlagInUse, TableOffset = tableOffset, TableSize = tableSize });
        }
        ReplaceDirectory(entries);
        // As qemu: the old data clusters are discarded (holes in the file), the old tables only freed.
        foreach (long offset in oldData) FreeData(offset);
        foreach (var (offset, count) in oldTables) Refcounts.Free(offset, count);
        Refcounts.FlushBlocks();
        _live = null;
    }

    private List<LiveBitmap> Writable => _live ?? throw new InvalidOperationException("The image is read-only");

    private LiveBitmap Find(string name) => Writable.FirstOrDefault(b => b.Entry.Name == name) ?? throw NotFound(name);

    /// <summary>A bitmap that clear, enable, disable and merge may change: not an inconsistent one.</summary>
    private LiveBitmap Usable(string name)
    {
        var bitmap = Find(name);
        if (bitmap.Bits == null) throw Inconsistent(name);
        return bitmap;
    }

    private static ImageFormatException NotFound(string name) => new($"Dirty bitmap '{name}' not found");

    private static ImageFormatException Inconsistent(string name) =>
        new($"Bitmap '{name}' is inconsistent and cannot be used\nTry block-dirty-bitmap-remove to delete this bitmap from disk");

    private long TableSize(int granularityBits)
    {
        long bits = (Length + (1L << granularityBits) - 1) >> granularityBits;
        long bytes = (bits + 7) >> 3;
        return (bytes + ClusterSize - 1) >> ClusterBits;
    }

    private ulong[] ReadTable(Qcow2Bitmap b)
    {
        var raw = new byte[b.TableSize * 8];
        file.Read(b.TableOffset, raw);
        var table = new ulong[b.TableSize];
        for (int i = 0; i < table.Length; i++) table[i] = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(i * 8));
        return table;
    }

    private byte[] LoadBits(Qcow2Bitmap b)
    {
        var bits = new byte[b.TableSize * ClusterSize];
        var table = ReadTable(b);
        for (int i = 0; i < table.Length; i++)
        {
            long offset = Qcow2Entry.HostOffset(table[i]);
            var chunk = bits.AsSpan(i * ClusterSize, ClusterSize);
            if (offset != 0) file.Read(offset, chunk);
            else if ((table[i] & 1) != 0) chunk.Fill(0xFF);
        }
        return bits;
    }

    /// <summary>Sets the bits covering the guest range [offset, offset + length) in one bitmap.</summary>
    private static void SetRange(LiveBitmap live, long offset, long length)
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

    private void FreeData(long offset)
    {
        Refcounts.Free(offset, 1);
        file.PunchHole(offset, ClusterSize);
    }

    /// <summary>
    /// qemu's update_ext_header_and_dir: the directory goes to fresh clusters, the header points at it (or loses the
    /// extension and the autoclear bit when no bitmap is left), then the old directory is freed.
    /// </summary>
    private void ReplaceDirectory(List<Qcow2Bitmap> entries)
    {
        var (oldDirectory, oldDirectorySize) = Qcow2Bitmap.DirectoryLocation(header);
        // The extension keeps its place: before unknown extensions, as qemu writes it.
        int ext = header.OtherExtensions.FindIndex(e => e.Type == Qcow2Header.ExtBitmaps);
        if (ext >= 0) header.OtherExtensions.RemoveAt(ext);
        header.AutoclearFeatures &= ~Qcow2Header.AutoclearBitmaps;
        if (entries.Count > 0)
        {
            var directory = Qcow2Bitmap.SerializeDirectory(entries);
            long directoryOffset = Refcounts.Allocate(ClustersFor(directory.Length));
            checkOverlap(directoryOffset, directory.Length, Qcow2Image.Metadata.None);
            file.Write(directoryOffset, directory);
            Refcounts.FlushBlocks();
            file.Flush();
            header.OtherExtensions.Insert(Math.Max(ext, 0), (Qcow2Header.ExtBitmaps, Qcow2Bitmap.Extension(entries.Count, directory.Length, directoryOffset)));
            header.AutoclearFeatures |= Qcow2Header.AutoclearBitmaps;
        }
        headerStore.WriteAll();
        if (oldDirectory != 0) Refcounts.Free(oldDirectory, ClustersFor(oldDirectorySize));
    }

    /// <summary>Writes a bitmap's non-zero clusters and its table into fresh clusters; returns the table's place.</summary>
    private (long Offset, long Size) Write(LiveBitmap live)
    {
        int g = live.Entry.GranularityBits;
        long tableSize = TableSize(g);
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
            checkOverlap(offset, ClusterSize, Qcow2Image.Metadata.None);
            file.Write(offset, chunk);
            BinaryPrimitives.WriteUInt64BigEndian(table.AsSpan(i * 8), (ulong)offset);
        }
        long tableOffset = Refcounts.Allocate(ClustersFor(table.Length));
        checkOverlap(tableOffset, table.Length, Qcow2Image.Metadata.None);
        file.Write(tableOffset, table);
        return (tableOffset, tableSize);
    }
}
