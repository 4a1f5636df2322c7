using System.Buffers;
using System.Buffers.Binary;
using ImageTool.Protocols.Blkdebug;

namespace ImageTool.Formats.Qed;

/// <summary>Writes: in place over data clusters; elsewhere new clusters at the end of the file, then the tables.</summary>
internal sealed partial class QedImage : IResizable
{
    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        BlockDeviceChecks.CheckWrite(this, offset, buffer.Length);
        lock (_writeLock)
        {
            while (buffer.Length > 0)
            {
                long n = Run(offset, buffer.Length, out var kind, out ulong host);
                if (kind == Kind.Data)
                {
                    _file.DebugEvent(BlkdebugEvent.WriteAio);
                    _file.Write((long)host, buffer[..(int)n]);
                }
                else
                {
                    // qemu allocates one run of clusters within one L2 table per step.
                    long tableEnd = ((offset >> (_l2Bits + _clusterBits)) + 1) << (_l2Bits + _clusterBits);
                    n = Math.Min(n, tableEnd - offset);
                    AllocatingWrite(offset, buffer[..(int)n]);
                }
                buffer = buffer[(int)n..];
                offset += n;
            }
        }
    }

    /// <summary>
    /// qemu's allocating write: the need-check bit set first (without a backing file), the clusters appended,
    /// the untouched parts of the first and last cluster filled from what they read as before (backing data or
    /// zeros), then the L2 entries, a new L2 table being written whole before the L1 entry that points to it.
    /// </summary>
    private void AllocatingWrite(long offset, ReadOnlySpan<byte> data)
    {
        long first = offset >> _clusterBits;
        long last = (offset + data.Length - 1) >> _clusterBits;
        int count = (int)(last - first + 1);
        if (_backing == null && BackingFileName == null && !_header.NeedsCheck)
        {
            _header = _header with { Features = _header.Features | QedHeader.FeatureNeedCheck };
            WriteHeader();
        }
        ulong host = _fileSize;
        _fileSize += (ulong)count * (ulong)_clusterSize;
        long start = first << _clusterBits;
        CopyCurrent(start, offset - start, (long)host);
        _file.DebugEvent(BlkdebugEvent.WriteAio);
        _file.Write((long)host + (offset - start), data);
        long end = offset + data.Length;
        long tail = ((last + 1) << _clusterBits) - end;
        CopyCurrent(end, tail, (long)host + (end - start));
        // With a backing file qemu flushes the data before the table update instead of using need-check.
        if (BackingFileName != null) _file.Flush();
        SetEntries(first, count, host, offset);
    }

    /// <summary>Writes what [guest, guest+length) reads as now (backing data, zeros past the disk) at a host offset.</summary>
    private void CopyCurrent(long guest, long length, long host)
    {
        if (length == 0) return;
        var temp = ArrayPool<byte>.Shared.Rent((int)length);
        try
        {
            var span = temp.AsSpan(0, (int)length);
            long inDisk = Math.Clamp(Length - guest, 0, length);
            Read(guest, span[..(int)inDisk]);
            span[(int)inDisk..].Clear();
            _file.Write(host, span);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(temp);
        }
    }

    /// <summary>Points <paramref name="count"/> clusters from <paramref name="first"/> at consecutive host clusters from <paramref name="host"/> (or all at the zero marker).</summary>
    private void SetEntries(long first, int count, ulong host, long guestOffset)
    {
        long l1Index = first >> _l2Bits;
        int index = (int)(first & ((1L << _l2Bits) - 1));
        ulong l2Offset = _l1[l1Index];
        bool isNew = l2Offset == 0;
        ulong[] table;
        if (isNew)
        {
            l2Offset = _fileSize;
            _fileSize += (ulong)_header.TableBytes;
            table = new ulong[_header.TableEntries];
        }
        else
        {
            table = L2(l2Offset, guestOffset);
        }
        for (int i = 0; i < count; i++)
            table[index + i] = host == ZeroCluster ? ZeroCluster : host + (ulong)i * (ulong)_clusterSize;
        if (isNew)
        {
            WriteTable(l2Offset, table, 0, table.Length);
            lock (_cacheLock) _l2Cache[l2Offset] = table;
            _l1[l1Index] = l2Offset;
            WriteTable(_header.L1TableOffset, _l1, (int)l1Index, 1);
        }
        else
        {
            WriteTable(l2Offset, table, index, count);
        }
    }

    /// <summary>qemu's qed_write_table: the 512-byte sectors holding entries [index, index+count).</summary>
    private void WriteTable(ulong tableOffset, ulong[] table, int index, int count)
    {
        int from = index * 8 / 512 * 512;
        int to = (int)Math.Min(table.Length * 8L, ((index + count) * 8L + 511) / 512 * 512);
        var raw = ArrayPool<byte>.Shared.Rent(to - from);
        try
        {
            for (int i = from / 8; i < to / 8; i++) BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(i * 8 - from), table[i]);
            _file.Write((long)tableOffset + from, raw.AsSpan(0, to - from));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
    }

    /// <summary>
    /// qemu's zero writes: whole clusters already zero stay, data clusters get zeros written in place, the others
    /// become zero clusters; partial clusters are written as data (the block layer's head and tail).
    /// </summary>
    public void WriteZeroes(long offset, long length, bool mayDeallocate)
    {
        BlockDeviceChecks.CheckWrite(this, offset, length);
        long end = offset + length;
        lock (_writeLock)
        {
            while (offset < end)
            {
                long clusterStart = offset & ~(_clusterSize - 1);
                long clusterEnd = Math.Min(clusterStart + _clusterSize, Length);
                long n = Math.Min(end, clusterEnd) - offset;
                var (kind, host) = Lookup(offset >> _clusterBits, offset);
                bool whole = offset == clusterStart && n == clusterEnd - clusterStart;
                if (kind == Kind.Zero || (kind == Kind.Unallocated && !whole && BackingFileName == null))
                {
                    // Already reads as zeros.
                }
                else if (kind == Kind.Data || !whole)
                {
                    WriteZeroBytes(offset, n, kind == Kind.Data ? (long)host + (offset - clusterStart) : -1);
                }
                else
                {
                    SetEntries(offset >> _clusterBits, 1, ZeroCluster, offset);
                }
                offset += n;
            }
        }
    }

    private void WriteZeroBytes(long offset, long length, long host)
    {
        var zeros = ArrayPool<byte>.Shared.Rent((int)length);
        try
        {
            Array.Clear(zeros, 0, (int)length);
            if (host >= 0) _file.Write(host, zeros.AsSpan(0, (int)length));
            else AllocatingWrite(offset, zeros.AsSpan(0, (int)length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(zeros);
        }
    }

    /// <summary>qemu's bdrv_qed_co_truncate: grow only, to a size the tables can map; only the header changes.</summary>
    public void Resize(long size, string preallocation)
    {
        if (preallocation != "off") throw new UnsupportedFeatureException($"Unsupported preallocation mode '{preallocation}'");
        if (!QedHeader.IsImageSizeValid((ulong)size, _header.ClusterSize, _header.TableSize))
            throw new ImageFormatException("Invalid image size specified");
        if ((ulong)size < _header.ImageSize) throw new UnsupportedFeatureException("Shrinking images is currently not supported");
        lock (_writeLock)
        {
            _header = _header with { ImageSize = (ulong)size };
            WriteHeader();
        }
    }
}
