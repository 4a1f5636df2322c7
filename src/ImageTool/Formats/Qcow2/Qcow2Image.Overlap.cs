namespace ImageTool.Formats.Qcow2;

/// <summary>
/// qemu's metadata overlap check in its default "cached" mode: before any write into the image file, the target
/// range is compared with the header, the L1 table, the refcount table and blocks, the snapshot table and the
/// snapshots' L1 tables, the active L2 tables and the bitmap directory. A hit marks the image corrupt and makes
/// it unusable, so a hostile mapping or refcount cannot make img overwrite metadata.
/// </summary>
internal sealed partial class Qcow2Image
{
    /// <summary>Kinds of metadata, in qemu's order of checking.</summary>
    [Flags]
    internal enum Metadata
    {
        None = 0,
        Header = 1,
        ActiveL1 = 2,
        RefcountTable = 4,
        SnapshotTable = 8,
        InactiveL1 = 16,
        ActiveL2 = 32,
        RefcountBlock = 64,
        BitmapDirectory = 128,
    }

    /// <summary>Set once the image was marked corrupt: like qemu's unusable BDS, no further I/O and nothing written at close.</summary>
    private bool _unusable;

    /// <summary>Throws (after marking the image corrupt) when writing the range would overwrite metadata not in <paramref name="ignore"/>.</summary>
    private void CheckOverlap(long offset, long length, Metadata ignore = Metadata.None)
    {
        if (length == 0) return;
        var hit = FindOverlap(offset, length, ignore);
        if (hit == Metadata.None) return;
        throw new ImageCorruptException($"Preventing invalid write on metadata (overlaps with {OverlapName(hit)})");
    }

    private Metadata FindOverlap(long offset, long length, Metadata ignore)
    {
        long cs = ClusterSize;
        if ((ignore & Metadata.Header) == 0 && offset < cs) return Metadata.Header;
        long start = offset & ~(cs - 1);
        long end = (offset + length + cs - 1) & ~(cs - 1);
        bool Overlaps(long at, long size) => size > 0 && at < end && start < at + size;
        bool Check(Metadata kind) => (ignore & kind) == 0;

        if (Check(Metadata.ActiveL1) && Overlaps(_l1.Offset, _l1.ByteLength)) return Metadata.ActiveL1;
        if (Check(Metadata.RefcountTable) && Overlaps((long)_header.RefcountTableOffset, (long)_header.RefcountTableClusters << _clusterBits))
            return Metadata.RefcountTable;
        if (Check(Metadata.SnapshotTable | Metadata.InactiveL1) && _header.SnapshotCount > 0)
        {
            var snapshots = _snapshots.List;
            if (Check(Metadata.SnapshotTable) && Overlaps((long)_header.SnapshotsOffset, _snapshots.TableSize)) return Metadata.SnapshotTable;
            if (Check(Metadata.InactiveL1) && snapshots.Any(s => Overlaps(s.L1TableOffset, s.L1Size * 8L))) return Metadata.InactiveL1;
        }
        if (Check(Metadata.ActiveL2))
        {
            foreach (ulong entry in _l1.Entries)
            {
                long table = Qcow2Entry.HostOffset(entry);
                if (table != 0 && Overlaps(table, cs)) return Metadata.ActiveL2;
            }
        }
        if (Check(Metadata.RefcountBlock) && Refcounts.HasBlockIn(start, end)) return Metadata.RefcountBlock;
        if (Check(Metadata.BitmapDirectory) && (_header.AutoclearFeatures & Qcow2Header.AutoclearBitmaps) != 0)
        {
            var (at, size) = Qcow2Bitmap.DirectoryLocation(_header);
            if (Overlaps(at, size)) return Metadata.BitmapDirectory;
        }
        return Metadata.None;
    }

    private static string OverlapName(Metadata kind) => kind switch
    {
        Metadata.Header => "qcow2_header",
        Metadata.ActiveL1 => "active L1 table",
        Metadata.RefcountTable => "refcount table",
        Metadata.SnapshotTable => "snapshot table",
        Metadata.InactiveL1 => "inactive L1 table",
        Metadata.ActiveL2 => "active L2 table",
        Metadata.RefcountBlock => "refcount block",
        _ => "bitmap directory",
    };

    /// <summary>qemu's fatal corruption signal: the corrupt bit (v3 header), one warning, and the image unusable from now on.</summary>
    private ImageIOException Fail(long offset, ImageCorruptException reason)
    {
        MarkCorrupt(reason.Message);
        _unusable = true;
        return new ImageIOException(offset, reason);
    }

    private void ThrowIfUnusable(long offset)
    {
        if (_unusable) throw new ImageIOException(offset, "No medium found");
    }
}
