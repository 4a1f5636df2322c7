using ImageTool.Protocols.Blkdebug;
using System.Buffers;

namespace ImageTool.Formats.Vmdk;

internal sealed partial class VmdkSparseExtent
{
    public override void Write(long offset, ReadOnlySpan<byte> data, FillBelow fillBelow)
    {
        CheckWritable();
        if (IsCompressed)
        {
            WriteStream(offset, data);
            return;
        }
        int g = GrainSize;
        int perTable = Tables.EntriesPerTable;
        int done = 0;
        while (done < data.Length)
        {
            long pos = offset + done;
            long grain = pos / g;
            int inGrain = (int)(pos % g);
            int remaining = data.Length - done;
            int index = TableIndex(grain);
            int slot = (int)(grain % perTable);
            var table = Tables.Table(index) ?? throw NoTable(index);
            uint gte = table[slot];
            bool free = IsFree(gte);
            int n;
            if (!free)
            {
                // Allocated: write in place, merged with the following grains while they are contiguous in the file.
                n = Math.Min(g - inGrain, remaining);
                uint expected = gte + (uint)GrainSectors;
                for (int k = slot + 1; n < remaining && k < perTable && table[k] == expected && !IsFree(expected); k++)
                {
                    n += Math.Min(g, remaining - n);
                    expected += (uint)GrainSectors;
                }
                File.DebugEvent(BlkdebugEvent.WriteAio);
                File.Write(gte * 512L + inGrain, data.Slice(done, n));
            }
            else if (inGrain == 0 && remaining >= g)
            {
                // Whole new grains: one allocation, one write, then the table entries (data before metadata).
                int count = 1;
                while (count < remaining / g && slot + count < perTable && IsFree(table[slot + count])) count++;
                long first = AllocateSectors((long)count * GrainSectors);
                n = count * g;
                File.DebugEvent(BlkdebugEvent.WriteAio);
                File.Write(first * 512, data.Slice(done, n));
                uint[] entries = ArrayPool<uint>.Shared.Rent(count);
                try
                {
                    for (int i = 0; i < count; i++) entries[i] = (uint)(first + (long)i * GrainSectors);
                    Tables.Set(index, slot, entries.AsSpan(0, count));
                }
                finally
                {
                    ArrayPool<uint>.Shared.Return(entries);
                }
            }
            else
            {
                // Part of a new grain: the rest comes from below (parent or zeros), as qemu's get_whole_cluster.
                n = Math.Min(g - inGrain, remaining);
                byte[] whole = ArrayPool<byte>.Shared.Rent(g);
                try
                {
                    var buffer = whole.AsSpan(0, g);
                    long grainStart = Start + grain * g;
                    bool zeroed = HasZeroGrain && gte == 1;
                    if (zeroed) buffer.Clear();
                    else
                    {
                        if (inGrain > 0) fillBelow(grainStart, buffer[..inGrain]);
                        if (inGrain + n < g) fillBelow(grainStart + inGrain + n, buffer[(inGrain + n)..]);
                    }
                    data.Slice(done, n).CopyTo(buffer[inGrain..]);
                    long sector = AllocateSectors(GrainSectors);
                    File.Write(sector * 512, buffer);
                    Tables.Set(index, slot, [(uint)sector]);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(whole);
                }
            }
            done += n;
        }
    }

    public override void WriteZeroes(long offset, long length, bool mayDeallocate, bool hasBacking, FillBelow fillBelow)
    {
        CheckWritable();
        int g = GrainSize;
        long end = offset + length;
        var cursor = new Cursor(this);
        byte[]? zeros = null;
        for (long pos = offset; pos < end;)
        {
            long grain = pos / g;
            int inGrain = (int)(pos % g);
            long n = Math.Min(g - inGrain, end - pos);
            uint gte = cursor.Entry(grain, out var state);
            bool whole = inGrain == 0 && (n == g || pos + n == Length);
            bool readsZero = state == GrainState.Zero || (state == GrainState.Free && !hasBacking);
            if (readsZero)
            {
                // Nothing to do: the range already reads as zeros.
            }
            else if (whole && HasZeroGrain && !IsCompressed)
            {
                Tables.Set(TableIndex(grain), (int)(grain % Tables.EntriesPerTable), [1u]);
            }
            else if (state == GrainState.Data && mayDeallocate && whole && File.PunchHole(gte * 512L, n))
            {
                // The grain stays allocated but its host blocks are released; it reads zeros.
            }
            else
            {
                zeros ??= new byte[g];
                Write(pos, zeros.AsSpan(0, (int)n), fillBelow);
            }
            pos += n;
        }
    }

    /// <summary>
    /// streamOptimized writes, as qemu allows them: whole grains (or the disk's last, shorter grain) that
    /// were never written, each compressed and appended after the previous one.
    /// </summary>
    private void WriteStream(long offset, ReadOnlySpan<byte> data)
    {
        int g = GrainSize;
        for (int done = 0; done < data.Length;)
        {
            long pos = offset + done;
            int n = (int)Math.Min(g, data.Length - done);
            CheckStreamGrain(pos, n);
            AppendCompressed(pos / g, VmdkCompression.Deflate(data.Slice(done, n)));
            done += n;
        }
    }

    /// <summary>Checks that a compressed grain may be written at <paramref name="offset"/> (qemu's EINVAL / EIO cases).</summary>
    public void CheckStreamGrain(long offset, long length)
    {
        CheckWritable();
        if (offset % GrainSize != 0 || length > GrainSize || (length < GrainSize && offset + length != Length))
            throw new IOException($"Invalid argument: streamOptimized images take whole grains only (byte {offset}, length {length})");
        var cursor = new Cursor(this);
        cursor.Entry(offset / GrainSize, out var state);
        if (state != GrainState.Free)
            throw new IOException("Could not write to allocated cluster for streamOptimized");
    }

    /// <summary>Appends a grain marker with the compressed bytes and points the grain's table entry at it.</summary>
    public void AppendCompressed(long grain, ReadOnlySpan<byte> compressed)
    {
        int total = (VmdkMarker.GrainHeaderSize + compressed.Length + 511) & ~511;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            var record = buffer.AsSpan(0, total);
            VmdkMarker.WriteGrainHeader(record, (ulong)(grain * GrainSectors), (uint)compressed.Length);
            compressed.CopyTo(record[VmdkMarker.GrainHeaderSize..]);
            record[(VmdkMarker.GrainHeaderSize + compressed.Length)..].Clear();
            long sector;
            lock (_allocLock)
            {
                // Markers are packed sector by sector, not grain-aligned (qemu's next_cluster_sector after a compressed write).
                sector = _nextSector;
                if (sector + total / 512 > MaxFileSectors)
                    throw new IOException($"Extent '{File.Path}' is full: grain sectors must stay below 2^32");
                _nextSector = sector + total / 512;
                _streamPadEnd = Math.Max(_streamPadEnd, sector * 512 + GrainSize);
            }
            File.Write(sector * 512, record);
            Tables.Set(TableIndex(grain), (int)(grain % Tables.EntriesPerTable), [(uint)sector]);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private bool IsFree(uint gte) => gte == 0 || (HasZeroGrain && gte == 1);

    private int TableIndex(long grain)
    {
        long index = grain / Tables.EntriesPerTable;
        if (index >= Tables.DirectoryEntries)
            throw new IOException($"Grain {grain} lies outside the grain directory of '{File.Path}'");
        return (int)index;
    }

    private UnsupportedFeatureException NoTable(int index) =>
        new($"Cannot allocate grains in extent '{File.Path}': grain directory entry {index} has no grain table");

    private void CheckWritable()
    {
        if (WriteProtected)
            throw new IOException($"Extent '{File.Path}' is read-only (VMDK version 3 without compression, or a stream with a footer)");
    }
}
