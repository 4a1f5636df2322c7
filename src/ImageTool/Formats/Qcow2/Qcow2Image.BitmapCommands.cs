namespace ImageTool.Formats.Qcow2;

/// <summary>
/// <c>img bitmap</c>'s actions on an image opened read-write, with qemu's QMP semantics and messages
/// (block-dirty-bitmap-add/remove/clear/enable/disable/merge): changes live in memory and are stored at close,
/// except a removal, which qemu writes to the directory at once.
/// </summary>
internal sealed partial class Qcow2Image
{
    private const int MaxBitmapNameSize = 1023;

    private List<LiveBitmap> WritableBitmaps =>
        _liveBitmaps ?? throw new InvalidOperationException("The image is read-only");

    private LiveBitmap FindBitmap(string name) =>
        WritableBitmaps.FirstOrDefault(b => b.Entry.Name == name) ?? throw new ImageFormatException($"Dirty bitmap '{name}' not found");

    /// <summary>A bitmap that clear, enable, disable and merge may change: not an inconsistent one.</summary>
    private LiveBitmap UsableBitmap(string name)
    {
        var bitmap = FindBitmap(name);
        if (bitmap.Bits == null)
            throw new ImageFormatException($"Bitmap '{name}' is inconsistent and cannot be used\nTry block-dirty-bitmap-remove to delete this bitmap from disk");
        return bitmap;
    }

    /// <summary>qemu's default granularity: the cluster size, within 4 KiB … 64 KiB.</summary>
    public long DefaultBitmapGranularity => Math.Clamp(ClusterSize, 4096, 65536);

    public void AddBitmap(string name, long? granularity, bool disabled)
    {
        lock (_lock)
        {
            var bitmaps = WritableBitmaps;
            long g = granularity ?? DefaultBitmapGranularity;
            if (name.Length == 0) throw new ImageFormatException("Bitmap name cannot be empty");
            if (g < 512 || (g & (g - 1)) != 0) throw new ImageFormatException("Granularity must be power of 2 and at least 512");
            if (bitmaps.Any(b => b.Entry.Name == name)) throw new ImageFormatException($"Bitmap already exists: {name}");
            if (System.Text.Encoding.UTF8.GetByteCount(name) > MaxBitmapNameSize)
                throw new ImageFormatException($"Can't make bitmap '{name}' persistent: Name length exceeds maximum ({MaxBitmapNameSize} characters)");
            if (_header.Version < 3) throw new UnsupportedFeatureException($"Can't make bitmap '{name}' persistent: Cannot store dirty bitmaps in qcow2 v2 files");
            int bits = System.Numerics.BitOperations.Log2((ulong)g);
            if (bits > MaxGranularityBits) throw new ImageFormatException($"Can't make bitmap '{name}' persistent: Granularity exceeds maximum (2147483648 bytes)");
            long tableSize = BitmapTableSize(bits);
            var entry = new Qcow2Bitmap(name, disabled ? 0 : Qcow2Bitmap.FlagAuto, bits, 0, tableSize);
            bitmaps.Add(new LiveBitmap(entry, new byte[tableSize * ClusterSize]));
        }
    }

    public void RemoveBitmap(string name)
    {
        lock (_lock)
        {
            var bitmap = FindBitmap(name);
            _liveBitmaps!.Remove(bitmap);
            if (bitmap.Entry.TableOffset == 0) return; // added in this session, never stored
            var (offset, size, onDisk) = Qcow2Bitmap.ReadDirectory(_file, _header);
            ReplaceDirectory(onDisk.Where(b => b.Name != name).ToList());
            foreach (ulong e in ReadBitmapTable(bitmap.Entry))
                if (Qcow2Entry.HostOffset(e) != 0) FreeBitmapData(Qcow2Entry.HostOffset(e));
            Refcounts.Free(bitmap.Entry.TableOffset, ClustersFor(bitmap.Entry.TableSize * 8));
            Refcounts.FlushBlocks();
            _file.Flush();
        }
    }

    public void ClearBitmap(string name)
    {
        lock (_lock) Array.Clear(UsableBitmap(name).Bits!);
    }

    public void EnableBitmap(string name, bool enabled)
    {
        lock (_lock)
        {
            var bitmap = UsableBitmap(name);
            uint flags = enabled ? bitmap.Entry.Flags | Qcow2Bitmap.FlagAuto : bitmap.Entry.Flags & ~Qcow2Bitmap.FlagAuto;
            bitmap.Entry = bitmap.Entry with { Flags = flags };
        }
    }

    /// <summary>ORs the bits of <paramref name="source"/> (of this image or <paramref name="from"/>) into <paramref name="target"/>.</summary>
    public void MergeBitmap(string source, string target, Qcow2Image? from = null)
    {
        lock (_lock)
        {
            var into = UsableBitmap(target);
            byte[] bits;
            int sourceBits;
            if (from == null || from == this)
            {
                var s = UsableBitmap(source);
                (bits, sourceBits) = (s.Bits!, s.Entry.GranularityBits);
            }
            else
            {
                var s = Qcow2Bitmap.ReadDirectory(from._file, from._header).Bitmaps.FirstOrDefault(b => b.Name == source)
                    ?? throw new ImageFormatException($"Dirty bitmap '{source}' not found");
                if (s.InUse)
                    throw new ImageFormatException($"Bitmap '{source}' is inconsistent and cannot be used\nTry block-dirty-bitmap-remove to delete this bitmap from disk");
                if (from.Length != Length) throw new ImageFormatException($"Bitmaps '{source}' and '{target}' are incompatible and can't be merged");
                from.ValidateBitmap(s);
                (bits, sourceBits) = (from.LoadBitmapBits(s), s.GranularityBits);
            }
            long count = (Length + (1L << sourceBits) - 1) >> sourceBits;
            for (long bit = 0; bit < count; bit++)
            {
                if ((bits[bit >> 3] & (1 << (int)(bit & 7))) == 0) continue;
                long start = bit << sourceBits;
                SetBitmapRange(into, start, Math.Min(1L << sourceBits, Length - start));
            }
        }
    }

    /// <summary>A consistent bitmap's bits: the live ones when open for writing, else as stored.</summary>
    public BitmapContents ReadBitmap(string name)
    {
        lock (_lock)
        {
            if (_liveBitmaps != null)
            {
                var live = UsableBitmap(name);
                return new BitmapContents(1L << live.Entry.GranularityBits, live.Bits!);
            }
            var stored = StoredBitmaps.FirstOrDefault(b => b.Name == name) ?? throw new ImageFormatException($"Dirty bitmap '{name}' not found");
            if (stored.InUse)
                throw new ImageFormatException($"Bitmap '{name}' is inconsistent and cannot be used\nTry block-dirty-bitmap-remove to delete this bitmap from disk");
            return new BitmapContents(1L << stored.GranularityBits, LoadBitmapBits(stored));
        }
    }

    /// <summary>The persistent bitmaps as the directory lists them (also of an image opened read-only).</summary>
    public IReadOnlyList<Qcow2Bitmap> StoredBitmaps => Qcow2Bitmap.ReadDirectory(_file, _header).Bitmaps;

    /// <summary>qcow2 v2 images cannot hold bitmaps.</summary>
    public bool CanStoreBitmaps => _header.Version >= 3;
}
