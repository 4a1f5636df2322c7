using System.Buffers;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// Compressed clusters (FORMATS.md §3): reading any descriptor, and convert -c's writer. Streams are packed
/// back-to-back at byte granularity in host clusters reserved for them, as qemu's qcow2_alloc_bytes does; every
/// host cluster a stream touches gets one reference.
/// </summary>
internal sealed partial class Qcow2Image : ICompressedClusterWriter
{
    /// <summary>Next free byte in the current compressed-data host cluster; 0 when none is open.</summary>
    private long _compressedFreeByte;

    int ICompressedClusterWriter.ClusterSize => ClusterSize;

    public int CompressCluster(ReadOnlySpan<byte> cluster, Span<byte> destination, bool qemuIdentical = false)
    {
        if (cluster.Length != ClusterSize) throw new ArgumentException($"A compressed write must be one whole cluster ({ClusterSize} bytes)");
        return Qcow2Compression.Compress(_header.CompressionType, cluster, destination[..(ClusterSize - 1)], qemuIdentical);
    }

    public void WriteCompressedCluster(long offset, ReadOnlySpan<byte> compressed)
    {
        if ((offset & (ClusterSize - 1)) != 0 || offset >= Length) throw new ArgumentException($"Compressed write at unaligned offset {offset}");
        if (compressed.Length == 0 || compressed.Length >= ClusterSize) throw new ArgumentException("Compressed cluster payload must be shorter than a cluster");
        if (IsReadOnly) throw new InvalidOperationException("The image is read-only");
        if (_header.CryptMethod != 0) throw new ImageFormatException("Compression and encryption not supported at the same time");
        if (HasDataFile) throw new ImageFormatException($"error while writing at byte {offset}: Operation not supported");
        lock (_lock)
        {
            ThrowIfUnusable(offset);
            _bitmaps.MarkDirty(offset, ClusterSize);
            long l1Index = offset >> (_clusterBits + _l2Bits);
            BeginMetadataChange();
            var table = GetL2ForWrite(l1Index);
            long host = AllocateCompressedBytes(compressed.Length);

            // Pad the stream to the next 512-byte boundary: qemu leaves the file 512-aligned after convert -c,
            // and the bytes after a stream inside its sectors are free anyway.
            int padded = (int)(((host + compressed.Length + 511) & ~511L) - host);
            var buffer = ArrayPool<byte>.Shared.Rent(padded);
            try
            {
                compressed.CopyTo(buffer);
                buffer.AsSpan(compressed.Length, padded - compressed.Length).Clear();
                try { CheckOverlap(host, padded); }
                catch (ImageCorruptException e) { throw Fail(offset, e); }
                _file.Write(host, buffer.AsSpan(0, padded));
            }
            finally { ArrayPool<byte>.Shared.Return(buffer); }

            int i = (int)((offset >> _clusterBits) & (L2Entries - 1));
            ReleaseEntry(table[i]);
            table[i] = Qcow2Compression.Descriptor(host, compressed.Length, _clusterBits);
            if (_extendedL2) CurrentBitmaps(l1Index)[i] = 0; // compressed entries carry no subcluster bits
        }
    }

    /// <summary>qemu's qcow2_alloc_bytes: continue in the open compressed cluster, spill into the next one when it is contiguous.</summary>
    private long AllocateCompressedBytes(int size)
    {
        long cs = ClusterSize;
        long offset = _compressedFreeByte;
        if (offset != 0)
        {
            // A cluster whose refcount is already at the width's maximum cannot take another stream: start a new one.
            ulong refcount = Refcounts.Get(offset >> _clusterBits);
            if (refcount == 0 || refcount >= Refcounts.MaxRefcount) offset = 0;
        }
        long freeInCluster = offset == 0 ? 0 : cs - (offset & (cs - 1));
        if (offset == 0 || freeInCluster < size)
        {
            long fresh = Refcounts.Allocate(1);
            if (offset == 0 || ((offset + cs - 1) & ~(cs - 1)) != fresh)
            {
                offset = fresh;
            }
            else
            {
                // The stream starts in the open cluster and runs into the fresh one: the open cluster gets one more reference.
                Refcounts.Change(offset >> _clusterBits, 1);
            }
        }
        else
        {
            Refcounts.Change(offset >> _clusterBits, 1);
        }
        // A stream that started in a brand-new cluster only touches that cluster (size < cluster size).
        _compressedFreeByte = offset + size;
        if ((_compressedFreeByte & (cs - 1)) == 0) _compressedFreeByte = 0;
        return offset;
    }

    private void ReadCompressedCluster(ulong entry, Span<byte> cluster)
    {
        var (offset, length) = Qcow2Entry.CompressedRange(entry, _clusterBits);
        if (offset < ClusterSize) throw CompressedOutsideFile(entry);
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            // Nothing read means the stream starts at or past the end of the file (no fstat per cluster to find out).
            int n = _file.ReadAvailable(offset, buffer.AsSpan(0, length));
            if (n == 0) throw CompressedOutsideFile(entry);
            Qcow2Compression.Decompress(_header.CompressionType, buffer.AsSpan(0, n), cluster, entry);
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }

    private static ImageCorruptException CompressedOutsideFile(ulong entry) =>
        new($"Compressed cluster descriptor {entry:x16} points outside the image file");
}
