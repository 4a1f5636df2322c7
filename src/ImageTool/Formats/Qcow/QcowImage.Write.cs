using System.Buffers;
using System.Buffers.Binary;
using ImageTool.Codecs;
using ImageTool.Protocols.Blkdebug;

namespace ImageTool.Formats.Qcow;

/// <summary>Writes: allocation at the end of the file, data before the table entries that point to it.</summary>
internal sealed partial class QcowImage
{
    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        BlockDeviceChecks.CheckWrite(this, offset, buffer.Length);
        lock (_writeLock)
        {
            if (Encrypted && ((offset | (long)buffer.Length) & 511) != 0) WriteAligned(offset, buffer);
            else WriteLocked(offset, buffer);
            WriteDirtyTables();
        }
    }

    private void WriteAligned(long offset, ReadOnlySpan<byte> buffer)
    {
        long start = offset & ~511L;
        long end = Math.Min(Length, (offset + buffer.Length + 511) & ~511L);
        var temp = ArrayPool<byte>.Shared.Rent((int)(end - start));
        try
        {
            var span = temp.AsSpan(0, (int)(end - start));
            Read(start, span);
            buffer.CopyTo(span[(int)(offset - start)..]);
            WriteLocked(start, span);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(temp);
        }
    }

    /// <summary>Writes cluster by cluster; runs of clusters that are contiguous in the file go out in one call.</summary>
    private void WriteLocked(long offset, ReadOnlySpan<byte> buffer)
    {
        long runHost = -1, runGuest = 0;
        int runStart = 0, runLength = 0;
        int pos = 0;
        while (pos < buffer.Length)
        {
            long at = offset + pos;
            long cluster = at >> _clusterBits;
            int inCluster = (int)(at & (_clusterSize - 1));
            int n = Math.Min(buffer.Length - pos, _clusterSize - inCluster);
            var (table, index) = TableFor(cluster);
            ulong entry = table[index];
            long host;
            if (entry != 0 && !IsCompressed(entry))
            {
                host = (long)entry + inCluster;
            }
            else
            {
                long newCluster = Allocate(_clusterSize, _clusterSize);
                if (n < _clusterSize)
                {
                    // A partly written new cluster gets the rest of its old content (backing data, zeros or the inflated cluster).
                    FlushRun(buffer, ref runHost, runGuest, runStart, runLength);
                    runLength = 0;
                    var whole = ArrayPool<byte>.Shared.Rent(_clusterSize);
                    try
                    {
                        var span = whole.AsSpan(0, _clusterSize);
                        long clusterStart = cluster << _clusterBits;
                        if (clusterStart + _clusterSize <= Length) Read(clusterStart, span);
                        else
                        {
                            span.Clear();
                            Read(clusterStart, span[..(int)(Length - clusterStart)]);
                        }
                        buffer.Slice(pos, n).CopyTo(span[inCluster..]);
                        WriteData(newCluster, span, clusterStart);
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(whole);
                    }
                    SetEntry(table, index, (ulong)newCluster, cluster);
                    pos += n;
                    continue;
                }
                host = newCluster;
                SetEntry(table, index, (ulong)newCluster, cluster);
            }
            if (runLength > 0 && runHost + runLength == host)
            {
                runLength += n;
            }
            else
            {
                FlushRun(buffer, ref runHost, runGuest, runStart, runLength);
                runHost = host;
                runGuest = at;
                runStart = pos;
                runLength = n;
            }
            pos += n;
        }
        FlushRun(buffer, ref runHost, runGuest, runStart, runLength);
    }

    private void FlushRun(ReadOnlySpan<byte> buffer, ref long host, long guest, int start, int length)
    {
        if (length > 0 && host >= 0) WriteData(host, buffer.Slice(start, length), guest);
        host = -1;
    }

    /// <summary>Writes guest data at a host offset, encrypting it with the guest sector numbers when the image is encrypted.</summary>
    private void WriteData(long host, ReadOnlySpan<byte> data, long guest)
    {
        _file.DebugEvent(BlkdebugEvent.WriteAio);
        if (!Encrypted)
        {
            _file.Write(host, data);
            return;
        }
        var temp = ArrayPool<byte>.Shared.Rent(data.Length);
        try
        {
            var span = temp.AsSpan(0, data.Length);
            data.CopyTo(span);
            Cipher.Encrypt(span, guest / 512);
            _file.Write(host, span);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(temp);
        }
    }

    /// <summary>Space at the end of the file, rounded up to <paramref name="alignment"/>, as qemu appends it.</summary>
    private long Allocate(long length, int alignment)
    {
        long at = (_end + alignment - 1) / alignment * alignment;
        _end = at + length;
        return at;
    }

    /// <summary>The L2 table (created when missing) and index of a guest cluster.</summary>
    private (ulong[] Table, int Index) TableFor(long cluster)
    {
        long l1Index = cluster >> _l2Bits;
        int index = (int)(cluster & ((1L << _l2Bits) - 1));
        ulong l2Offset = _l1[l1Index];
        if (l2Offset != 0) return (L2(l2Offset), index);
        int tableBytes = _header.L2Entries * 8;
        long at = Allocate(tableBytes, _clusterSize);
        var zeros = ArrayPool<byte>.Shared.Rent(tableBytes);
        try
        {
            Array.Clear(zeros, 0, tableBytes);
            _file.Write(at, zeros.AsSpan(0, tableBytes));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(zeros);
        }
        Span<byte> be = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(be, (ulong)at);
        _file.Write((long)_header.L1TableOffset + l1Index * 8, be);
        _l1[l1Index] = (ulong)at;
        var table = new ulong[_header.L2Entries];
        lock (_cacheLock) _l2Cache[(ulong)at] = table;
        return (table, index);
    }

    private void SetEntry(ulong[] table, int index, ulong entry, long cluster)
    {
        table[index] = entry;
        _dirtyL2.Add(_l1[cluster >> _l2Bits]);
        if (_compressedCacheEntry != 0) lock (_compressedLock) _compressedCacheEntry = 0;
    }

    /// <summary>Writes the L2 tables changed since the last call (after the data they point to).</summary>
    private void WriteDirtyTables()
    {
        if (_dirtyL2.Count == 0) return;
        int tableBytes = _header.L2Entries * 8;
        var raw = ArrayPool<byte>.Shared.Rent(tableBytes);
        try
        {
            foreach (ulong l2Offset in _dirtyL2)
            {
                ulong[] table;
                lock (_cacheLock) table = _l2Cache[l2Offset];
                for (int i = 0; i < table.Length; i++) BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(i * 8), table[i]);
                _file.Write((long)l2Offset, raw.AsSpan(0, tableBytes));
            }
            _dirtyL2.Clear();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
    }

    /// <summary>qcow has no zero flag: with a backing file zeros are written, without one unallocated clusters already read as zeros.</summary>
    public void WriteZeroes(long offset, long length, bool mayDeallocate) => ZeroesByWriting.Write(this, offset, length);

    /// <summary>Raw deflate with qemu's 4 KiB window; -1 when the stream would not be shorter than a cluster.</summary>
    public int CompressCluster(ReadOnlySpan<byte> cluster, Span<byte> destination, bool qemuIdentical = false) =>
        ClusterDeflate.Compress(cluster, destination[..(_clusterSize - 1)], qemuIdentical);

    /// <summary>Appends the stream at the end of the file (512-byte aligned, as qemu) and maps the cluster to it.</summary>
    public void WriteCompressedCluster(long offset, ReadOnlySpan<byte> compressed)
    {
        if (Encrypted) throw new UnsupportedFeatureException("Compression and encryption not supported at the same time");
        BlockDeviceChecks.CheckWrite(this, offset, Math.Min(_clusterSize, Length - offset));
        if ((offset & (_clusterSize - 1)) != 0 || compressed.Length >= _clusterSize)
            throw new ArgumentException($"A compressed cluster must be cluster aligned and shorter than {_clusterSize} bytes");
        lock (_writeLock)
        {
            long cluster = offset >> _clusterBits;
            var (table, index) = TableFor(cluster);
            // Keep the dirty set to the tables in use: write the others out before touching a new one.
            if (_dirtyL2.Count > 0 && !_dirtyL2.Contains(_l1[cluster >> _l2Bits])) WriteDirtyTables();
            long at = Allocate(compressed.Length, 512);
            _file.Write(at, compressed);
            SetEntry(table, index, CompressedFlag | ((ulong)compressed.Length << (63 - _clusterBits)) | (ulong)at, cluster);
        }
    }
}
