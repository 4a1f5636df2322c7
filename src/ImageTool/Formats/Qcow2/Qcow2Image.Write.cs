using System.Buffers;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// The write path: cluster allocation, copy-on-write from the backing file, zero clusters and the ordered
/// write-back of metadata (refcount increments, then L2, then L1; decrements last).
/// </summary>
internal sealed partial class Qcow2Image
{
    private readonly List<(long Offset, long Count)> _deferredFrees = [];
    private Qcow2Refcounts? _refcounts;
    private bool _markedDirty;
    private bool _corruptionSignalled;

    private Qcow2Refcounts Refcounts => _refcounts ??=
        new Qcow2Refcounts(_file, _headerStore, block => CheckOverlap(block, ClusterSize, Metadata.RefcountBlock));

    private void OpenForWriting()
    {
        var (directoryOffset, directorySize, bitmaps) = Qcow2Bitmap.ReadDirectory(_file, _header);
        // Unknown autoclear bits are cleared as qemu does; so is the bitmaps bit of an image without bitmaps.
        ulong known = Qcow2Header.AutoclearDataFileRaw | (bitmaps.Count > 0 ? Qcow2Header.AutoclearBitmaps : 0);
        if ((_header.AutoclearFeatures & ~known) != 0)
        {
            _header.AutoclearFeatures &= known;
            WriteHeader();
        }
        if ((_header.IncompatibleFeatures & Qcow2Header.IncompatDirty) != 0)
        {
            var report = Check(ImageTool.Check.CheckRepair.All, _ => { });
            if (report.CheckErrors > 0) throw new ImageFormatException("Could not repair dirty image: Input/output error");
            _header.IncompatibleFeatures &= ~Qcow2Header.IncompatDirty;
            WriteHeader();
        }
        _bitmaps.OpenForWriting(directoryOffset, directorySize, bitmaps);
    }

    /// <summary>qemu clears autoclear bits it does not know whenever it opens an image writable, for repair too.</summary>
    private void ClearUnknownAutoclearBits()
    {
        const ulong known = Qcow2Header.AutoclearDataFileRaw | Qcow2Header.AutoclearBitmaps;
        if ((_header.AutoclearFeatures & ~known) == 0) return;
        _header.AutoclearFeatures &= known;
        WriteHeader();
    }

    private void WriteHeader() => _headerStore.WriteAll();

    // With lazy refcounts qemu marks the image dirty before the first metadata change; we keep refcounts
    // exact anyway, but set the bit so a crash is repaired the way qemu expects.
    private void BeginMetadataChange()
    {
        if (_markedDirty || (_header.CompatibleFeatures & Qcow2Header.CompatLazyRefcounts) == 0) return;
        _headerStore.SetIncompatibleFeatures(_header.IncompatibleFeatures | Qcow2Header.IncompatDirty);
        _markedDirty = true;
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        BlockDeviceChecks.CheckWrite(this, offset, buffer.Length);
        lock (_lock)
        {
            ThrowIfUnusable(offset);
            long start = offset;
            try
            {
                _bitmaps.MarkDirty(offset, buffer.Length);
                while (buffer.Length > 0)
                {
                    int n = _extendedL2 ? WriteInCluster(offset, buffer) : WriteInTable(offset, buffer);
                    offset += n;
                    buffer = buffer[n..];
                }
            }
            catch (ImageCorruptException e)
            {
                throw Fail(start, e);
            }
        }
    }

    /// <summary>
    /// As qemu: metadata found broken while writing sets the corrupt bit (v3 images have one), so nothing writes
    /// the image again until it is repaired.
    /// </summary>
    private void MarkCorrupt(string reason)
    {
        if (_corruptionSignalled) return;
        _corruptionSignalled = true;
        _unusable = true; // qemu's fatal corruption event: no further I/O, nothing written at close
        _warning?.Invoke($"qcow2: Marking image as corrupt: {reason}; further corruption events will be suppressed");
        if (_header.Version < 3) return;
        _headerStore.SetIncompatibleFeatures(_header.IncompatibleFeatures | Qcow2Header.IncompatCorrupt);
    }

    private bool InPlace(ulong entry) =>
        EntryType(entry) == Qcow2ClusterType.Normal && Qcow2Entry.IsCopied(entry);

    /// <summary>Writes the part of the request that falls in one L2 table; returns its length.</summary>
    private int WriteInTable(long offset, ReadOnlySpan<byte> data)
    {
        long cs = ClusterSize;
        long l1Index = offset >> (_clusterBits + _l2Bits);
        long tableEnd = (l1Index + 1) << (_clusterBits + _l2Bits);
        int n = (int)Math.Min(data.Length, tableEnd - offset);
        long end = offset + n;
        ulong[]? table = null; // loaded for reading until something must change
        bool writable = false;
        long pos = offset;
        while (pos < end)
        {
            long cluster = pos >> _clusterBits;
            int i = (int)(cluster & (L2Entries - 1));
            ulong entry = table?[i] ?? Lookup(cluster, out _, forWrite: true);
            long clusterStart = cluster << _clusterBits;
            int j = i;
            long runEnd;
            if (InPlace(entry))
            {
                long host = Qcow2Entry.HostOffset(entry);
                if ((host & (cs - 1)) != 0)
                    throw new ImageCorruptException($"Data cluster offset {Hex(host)} unaligned (guest offset: {Hex(clusterStart)})");
                table ??= LoadL2(Qcow2Entry.HostOffset(_l1[l1Index]), l1Index);
                while (((long)(j + 1 - i) << _clusterBits) + clusterStart < end && j + 1 < L2Entries
                       && InPlace(table[j + 1]) && Qcow2Entry.HostOffset(table[j + 1]) == host + (j + 1 - i) * cs)
                    j++;
                runEnd = Math.Min(end, clusterStart + ((long)(j + 1 - i) << _clusterBits));
                WriteData(host + (pos - clusterStart), pos, data[(int)(pos - offset)..(int)(runEnd - offset)]);
                pos = runEnd;
                continue;
            }
            if (!writable || table == null)
            {
                table = GetL2ForWrite(l1Index);
                writable = true;
            }
            while (((long)(j + 1 - i) << _clusterBits) + clusterStart < end && j + 1 < L2Entries && !InPlace(table[j + 1]))
                j++;
            int count = j - i + 1;
            long runGuestEnd = clusterStart + ((long)count << _clusterBits);
            runEnd = Math.Min(end, runGuestEnd);
            BeginMetadataChange();
            // Data-file clusters sit at their guest offsets and are not refcounted.
            long newHost = HasDataFile ? clusterStart : Refcounts.Allocate(count);
            // New clusters past the end of the file read as zeros already: copying zeros there is left out, and the file
            // is only extended over them (qemu zeroes such clusters with fallocate rather than writing either).
            bool pastEnd = !HasDataFile && !_encryption.IsEnabled && newHost >= _file.Length;
            if (pos > clusterStart && !(pastEnd && ReadsAsZeros(table[i], clusterStart)))
                CopyOnWrite(table[i], clusterStart, newHost, 0, (int)(pos - clusterStart));
            WriteData(newHost + (pos - clusterStart), pos, data[(int)(pos - offset)..(int)(runEnd - offset)]);
            if (runEnd < runGuestEnd)
            {
                long lastStart = runGuestEnd - cs;
                long runHostEnd = newHost + ((long)count << _clusterBits);
                if (!(pastEnd && ReadsAsZeros(table[j], lastStart)))
                    CopyOnWrite(table[j], lastStart, newHost + (lastStart - clusterStart), (int)(runEnd - lastStart), (int)(runGuestEnd - runEnd));
                else if (_file.Length < runHostEnd)
                    _file.SetLength(runHostEnd);
            }
            for (int k = i; k <= j; k++)
            {
                ReleaseEntry(table[k]);
                table[k] = (ulong)(newHost + (long)(k - i) * cs) | Qcow2Entry.Copied;
            }
            pos = runEnd;
        }
        return n;
    }

    /// <summary>Fills part of a freshly allocated host cluster with what the guest cluster held before.</summary>
    private void CopyOnWrite(ulong oldEntry, long guestClusterStart, long newHostCluster, int from, int length)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ClusterSize);
        try
        {
            var span = buffer.AsSpan(0, ClusterSize);
            switch (EntryType(oldEntry))
            {
                case Qcow2ClusterType.Normal:
                    ReadData(Qcow2Entry.HostOffset(oldEntry) + from, guestClusterStart + from, span[..length]);
                    break;
                case Qcow2ClusterType.Compressed:
                    ReadCompressedCluster(oldEntry, span);
                    span.Slice(from, length).CopyTo(span);
                    break;
                case Qcow2ClusterType.Unallocated:
                    long guest = guestClusterStart + from;
                    int inImage = (int)Math.Clamp(Length - guest, 0, length);
                    BackingChain.Read(_backing, guest, span[..inImage]);
                    span[inImage..length].Clear();
                    break;
                default:
                    span[..length].Clear();
                    break;
            }
            WriteData(newHostCluster + from, guestClusterStart + from, span[..length]);
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }

    /// <summary>Drops the host clusters an entry referenced, after the new mapping is on disk (at flush).</summary>
    private void ReleaseEntry(ulong entry)
    {
        switch (EntryType(entry))
        {
            case Qcow2ClusterType.Normal or Qcow2ClusterType.ZeroAlloc when !HasDataFile:
                _deferredFrees.Add((Qcow2Entry.HostOffset(entry), 1));
                break;
            case Qcow2ClusterType.Compressed:
                var (offset, length) = Qcow2Entry.CompressedRange(entry, _clusterBits);
                long first = offset >> _clusterBits;
                long last = (offset + length - 1) >> _clusterBits;
                _deferredFrees.Add((first << _clusterBits, last - first + 1));
                break;
        }
    }

    /// <summary>The L2 table for an L1 index, ready to modify: allocated or copied (when shared) as needed.</summary>
    private ulong[] GetL2ForWrite(long l1Index)
    {
        ulong l1Entry = _l1[l1Index];
        long oldOffset = Qcow2Entry.HostOffset(l1Entry);
        ulong[] table;
        if (oldOffset != 0 && Qcow2Entry.IsCopied(l1Entry))
        {
            table = LoadL2(oldOffset, l1Index);
            _l2.MarkDirty(oldOffset);
            return table;
        }
        BeginMetadataChange();
        table = oldOffset == 0 ? new ulong[L2Entries] : (ulong[])LoadL2(oldOffset, l1Index).Clone();
        ulong[]? bitmaps = !_extendedL2 ? null : oldOffset == 0 ? new ulong[L2Entries] : (ulong[])_l2.Bitmaps(oldOffset).Clone();
        long newOffset = Refcounts.Allocate(1);
        CheckOverlap(newOffset, ClusterSize, Metadata.ActiveL2);
        if (_l2.IsFull) EvictL2Cache();
        _l2.Add(newOffset, table, bitmaps);
        _l1.Set(l1Index, (ulong)newOffset | Qcow2Entry.Copied);
        if (oldOffset != 0) _deferredFrees.Add((oldOffset, 1));
        return table;
    }

    public void WriteZeroes(long offset, long length, bool mayDeallocate)
    {
        BlockDeviceChecks.CheckWrite(this, offset, length);
        lock (_lock)
        {
            ThrowIfUnusable(offset);
            _bitmaps.MarkDirty(offset, length);
            try { ZeroRange(offset, length, mayDeallocate); }
            catch (ImageCorruptException e)
            {
                throw Fail(offset, e);
            }
        }
    }

    private void ZeroRange(long offset, long length, bool mayDeallocate)
    {
        long cs = ClusterSize;
        long end = offset + length;
        while (offset < end)
        {
            long clusterStart = offset & ~(cs - 1);
            long clusterEnd = Math.Min(clusterStart + cs, Length);
            if (offset > clusterStart || end < clusterEnd)
            {
                long partEnd = Math.Min(end, clusterEnd);
                if (_extendedL2) ZeroPartOfCluster(offset, partEnd, clusterStart);
                else if (!ReadsAsZeros(Lookup(offset >> _clusterBits, out _), clusterStart))
                    WriteZeroBytes(offset, partEnd - offset);
                offset = partEnd;
                continue;
            }
            long tableEnd = ((offset >> (_clusterBits + _l2Bits)) + 1) << (_clusterBits + _l2Bits);
            long fullEnd = Math.Min(Math.Min(tableEnd, end), clusterStart + (((end - clusterStart) >> _clusterBits) << _clusterBits));
            if (end >= Length) fullEnd = Math.Min(tableEnd, Length);
            ZeroClustersInTable(offset, fullEnd, mayDeallocate);
            offset = fullEnd;
        }
    }

    private bool ReadsAsZeros(ulong entry, long guestOffset) => EntryType(entry) switch
    {
        Qcow2ClusterType.ZeroPlain or Qcow2ClusterType.ZeroAlloc => true,
        Qcow2ClusterType.Unallocated => _backing == null || guestOffset >= _backing.Length,
        _ => false,
    };

    private void WriteZeroBytes(long offset, long length)
    {
        var zeros = ArrayPool<byte>.Shared.Rent((int)Math.Min(length, 1 << 20));
        try
        {
            Array.Clear(zeros);
            while (length > 0)
            {
                int n = (int)Math.Min(length, zeros.Length);
                Write(offset, zeros.AsSpan(0, n));
                offset += n;
                length -= n;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(zeros); }
    }

    /// <summary>Whole clusters inside one L2 table: v3 zero flags, v2 discards (no backing) or written zeros.</summary>
    private void ZeroClustersInTable(long start, long end, bool mayDeallocate)
    {
        long l1Index = start >> (_clusterBits + _l2Bits);
        if (_header.Version < 3)
        {
            if (_backing != null)
            {
                WriteZeroBytes(start, end - start);
                return;
            }
            if (Qcow2Entry.HostOffset(_l1[l1Index]) == 0) return;
        }
        var table = GetL2ForWrite(l1Index);
        for (long c = start >> _clusterBits; c << _clusterBits < end; c++)
        {
            int i = (int)(c & (L2Entries - 1));
            ulong old = table[i];
            var type = EntryType(old);
            if (_extendedL2)
            {
                ZeroClusterWithSubclusters(l1Index, table, i, c, mayDeallocate);
                continue;
            }
            if (DataFileRaw)
            {
                // The raw data file must read as the guest does: keep the mapping, zero the data there too.
                Raw.RawFormat.ZeroFill(DataFile, c << _clusterBits, Math.Min(ClusterSize, Length - (c << _clusterBits)));
                table[i] = (ulong)(c << _clusterBits) | Qcow2Entry.Copied | Qcow2Entry.ZeroFlag;
            }
            else if (_header.Version < 3)
            {
                ReleaseEntry(old);
                table[i] = 0;
            }
            else if (!mayDeallocate && type is Qcow2ClusterType.Normal or Qcow2ClusterType.ZeroAlloc && Qcow2Entry.IsCopied(old))
            {
                table[i] = old | Qcow2Entry.ZeroFlag;
            }
            else
            {
                ReleaseEntry(old);
                table[i] = Qcow2Entry.ZeroFlag;
            }
        }
    }

    public void Flush()
    {
        if (IsReadOnly) return;
        lock (_lock)
        {
            if (_unusable) return;
            _dataFile?.Flush();
            try { WriteBackMetadata(); }
            catch (ImageCorruptException e)
            {
                throw Fail(0, e);
            }
            _file.Flush();
        }
    }

    /// <summary>
    /// Writes cached metadata in crash-safe order: refcount increments, then L2 tables, then the L1 table,
    /// and only then the refcount decrements of clusters the new mapping no longer uses.
    /// </summary>
    private void WriteBackMetadata()
    {
        if (_refcounts == null && !_l2.HasDirty && !_l1.IsDirty) return;
        if (Refcounts.IsDirty && (_l2.HasDirty || _l1.IsDirty))
        {
            Refcounts.FlushBlocks();
            _file.Flush();
        }
        _l2.WriteDirty(offset => CheckOverlap(offset, ClusterSize, Metadata.ActiveL2));
        _l1.WriteBack((offset, length) => CheckOverlap(offset, length, Metadata.ActiveL1));
        if (_deferredFrees.Count > 0)
        {
            _file.Flush();
            foreach (var (offset, count) in _deferredFrees) Refcounts.Free(offset, count);
            _deferredFrees.Clear();
        }
        Refcounts.FlushBlocks();
    }

    /// <summary>Runs <paramref name="action"/> with freed clusters punched out of the file, as qemu's snapshot code and shrink do.</summary>
    private void WithDiscards(Action action)
    {
        bool before = Refcounts.DiscardFreed;
        Refcounts.DiscardFreed = true;
        try { action(); }
        finally { Refcounts.DiscardFreed = before; }
    }

    private void EvictL2Cache()
    {
        if (!IsReadOnly) WriteBackMetadata();
        _l2.Clear();
    }

    private void Close()
    {
        lock (_lock)
        {
            // As qemu closing an unusable image: nothing more is written (errors at close are not reported).
            if (_unusable) return;
            _dataFile?.Flush();
            try
            {
                _bitmaps.Store();
                WriteBackMetadata();
            }
            catch (ImageCorruptException e)
            {
                Fail(0, e);
                return;
            }
            _file.Flush();
            if (_markedDirty)
            {
                _headerStore.SetIncompatibleFeatures(_header.IncompatibleFeatures & ~Qcow2Header.IncompatDirty);
                _markedDirty = false;
            }
        }
    }

    /// <summary>Gives a freshly created image its size: the L1 table, then preallocated L2 tables and data as qemu lays them out.</summary>
    internal void InitializeSize(long size, string preallocation)
    {
        lock (_lock)
        {
            int coverageBits = _clusterBits + _l2Bits;
            long l1Size = (size + (1L << coverageBits) - 1) >> coverageBits;
            if (l1Size * 8 > Qcow2Header.MaxL1Bytes)
                throw new ImageFormatException("The image size is too large for file format 'qcow2' (try using a larger cluster size)");
            _l1.Create(l1Size, Refcounts);
            _header.Size = (ulong)size;
            WriteHeader();
            if (preallocation == "off") return;
            long clusters = (size + ClusterSize - 1) >> _clusterBits;
            long dataEnd = 0;
            for (long l1Index = 0; l1Index < l1Size; l1Index++)
            {
                var table = GetL2ForWrite(l1Index);
                long count = Math.Min(L2Entries, clusters - (l1Index << _l2Bits));
                // Data-file clusters sit at their guest offsets and are not refcounted.
                long host = HasDataFile ? l1Index << (_l2Bits + _clusterBits) : Refcounts.Allocate(count);
                for (int k = 0; k < count; k++) table[k] = (ulong)(host + ((long)k << _clusterBits)) | Qcow2Entry.Copied;
                dataEnd = host + (count << _clusterBits);
                if (preallocation == "falloc") DataFile.Allocate(host, count << _clusterBits);
                else if (preallocation == "full") Raw.RawFormat.ZeroFill(DataFile, host, count << _clusterBits);
            }
            WriteBackMetadata();
            if (DataFile.Length < dataEnd) DataFile.SetLength(dataEnd);
        }
    }
}
