using System.Buffers.Binary;
using ImageTool.IO;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// The one place an open image writes its header: the whole of cluster 0, or one named group of fields where
/// qemu updates just those bytes (size, L1 table, refcount table, snapshot table, incompatible features) and
/// leaves the rest of the cluster as it is on disk. Each write updates <see cref="Header"/> and is flushed.
/// </summary>
internal sealed class Qcow2HeaderStore(HostFile file, Qcow2Header header)
{
    // Byte offsets of the fields in the header (docs/interop/qcow2.txt).
    private const int SizeAt = 24;
    private const int L1SizeAt = 36; // l1_size (4 bytes), then l1_table_offset (8)
    private const int RefcountTableAt = 48; // refcount_table_offset (8), then refcount_table_clusters (4)
    private const int SnapshotCountAt = 60; // nb_snapshots (4), then snapshots_offset (8)
    private const int IncompatibleFeaturesAt = 72;

    public Qcow2Header Header => header;

    /// <summary>Serialises the whole header cluster from <see cref="Header"/> (qemu's qcow2_update_header).</summary>
    public void WriteAll()
    {
        file.Write(0, header.Write());
        file.Flush();
    }

    public void SetSize(ulong size)
    {
        header.Size = size;
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, size);
        WriteField(SizeAt, b);
    }

    public void SetL1Table(ulong offset, uint entries)
    {
        header.L1TableOffset = offset;
        header.L1Size = entries;
        Span<byte> b = stackalloc byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(b, entries);
        BinaryPrimitives.WriteUInt64BigEndian(b[4..], offset);
        WriteField(L1SizeAt, b);
    }

    public void SetRefcountTable(ulong offset, uint clusters)
    {
        header.RefcountTableOffset = offset;
        header.RefcountTableClusters = clusters;
        Span<byte> b = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64BigEndian(b, offset);
        BinaryPrimitives.WriteUInt32BigEndian(b[8..], clusters);
        WriteField(RefcountTableAt, b);
    }

    /// <summary>qemu's make_completely_empty: the L1 and refcount table offsets and the table's size in one write.</summary>
    public void SetL1AndRefcountTable(ulong l1Offset, ulong refcountTableOffset, uint refcountTableClusters)
    {
        header.L1TableOffset = l1Offset;
        header.RefcountTableOffset = refcountTableOffset;
        header.RefcountTableClusters = refcountTableClusters;
        Span<byte> b = stackalloc byte[20];
        BinaryPrimitives.WriteUInt64BigEndian(b, l1Offset);
        BinaryPrimitives.WriteUInt64BigEndian(b[8..], refcountTableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(b[16..], refcountTableClusters);
        WriteField(L1SizeAt + 4, b);
    }

    public void SetSnapshotTable(uint count, ulong offset)
    {
        header.SnapshotCount = count;
        header.SnapshotsOffset = offset;
        Span<byte> b = stackalloc byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(b, count);
        BinaryPrimitives.WriteUInt64BigEndian(b[4..], offset);
        WriteField(SnapshotCountAt, b);
    }

    public void SetIncompatibleFeatures(ulong features)
    {
        header.IncompatibleFeatures = features;
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, features);
        WriteField(IncompatibleFeaturesAt, b);
    }

    private void WriteField(int at, ReadOnlySpan<byte> bytes)
    {
        file.Write(at, bytes);
        file.Flush();
    }
}
