namespace ImageTool.Formats.Qcow2;

/// <summary>
/// img resize for qcow2 (qemu's qcow2_co_truncate): growing extends the L1 table when needed; shrinking discards what
/// lies past the end and trims the file after its last cluster in use. v3 images with snapshots may change size
/// (each snapshot keeps its own disk size).
/// </summary>
internal sealed partial class Qcow2Image : IResizable
{
    public void Resize(long size, string preallocation)
    {
        if (size % 512 != 0) throw new ImageFormatException("The new size must be a multiple of 512");
        if (size < Length && preallocation != "off") throw new ImageFormatException("Preallocation can't be used for shrinking an image");
        lock (_lock)
        {
            if (_header.SnapshotCount > 0 && _header.Version < 3) throw new UnsupportedFeatureException("Can't resize a v2 image which has snapshots");
            _bitmaps.ThrowIfAnyInconsistent();
            long oldLength = Length;
            // falloc/full clusters read as zeros already: qemu sets no zero flags on them.
            bool hideBacking = size > oldLength && _backing != null && _backing.Length > oldLength && preallocation is "off" or "metadata";
            if (hideBacking && _header.Version < 3) throw new UnsupportedFeatureException("Failed to zero out new clusters: Operation not supported");
            int coverageBits = _clusterBits + _l2Bits;
            long l1Size = (size + (1L << coverageBits) - 1) >> coverageBits;
            if (l1Size * 8 > Qcow2Header.MaxL1Bytes) throw new ImageFormatException("The image size is too large for file format 'qcow2'");
            if (size < oldLength)
            {
                WithDiscards(() =>
                {
                    Discard(size);
                    WriteBackMetadata();
                });
                _file.Flush();
                Refcounts.DropUnusedBlocks();
                TrimAfterLastUsedCluster();
            }
            WriteBackMetadata();
            if (l1Size > _l1.Length) GrowL1(l1Size);
            // As qemu: a raw data file is read through fully mapped metadata, so growth maps the new area too.
            if (size > oldLength && DataFileRaw && preallocation == "off") preallocation = "metadata";
            if (preallocation == "metadata" || (preallocation != "off" && HasDataFile)) PreallocateMetadata(Length, size, preallocation);
            else if (preallocation != "off") PreallocateData(Length, size, preallocation, hidesBacking: _backing != null && _backing.Length > oldLength);
            // qemu writes just the size field, so the rest of the header cluster stays as it is on disk.
            _header.Size = (ulong)size;
            if (hideBacking) ZeroGrownArea(oldLength);
            _headerStore.SetSize((ulong)size);
        }
    }

    /// <summary>
    /// As qemu's truncate with a longer backing file: what the backing file holds past the old end must not show
    /// through, so the new area reads as zeros: zero clusters, and written zeros in the old end's partial cluster.
    /// </summary>
    private void ZeroGrownArea(long oldLength)
    {
        try
        {
            long unit = 1L << (_extendedL2 ? SubclusterBits : _clusterBits);
            long zeroStart = (oldLength + unit - 1) & ~(unit - 1);
            if (Length > zeroStart) ZeroRange(zeroStart, Length - zeroStart, mayDeallocate: false);
            if (zeroStart > oldLength) WriteZeroBytes(oldLength, Math.Min(zeroStart, Length) - oldLength);
            WriteBackMetadata();
        }
        catch (ImageCorruptException e)
        {
            throw Fail(oldLength, e);
        }
    }

    /// <summary>
    /// qemu's preallocate_co: clusters mapped for the new range the way writes map them (L2 table, then its
    /// clusters), nothing written; the file then reaches the end of the last one.
    /// </summary>
    private void PreallocateMetadata(long from, long to, string mode)
    {
        var head = ReadOldEndHead(from, remapped: entry => !InPlace(entry));
        for (long cluster = from >> _clusterBits; cluster << _clusterBits < to;)
        {
            long l1Index = cluster >> _l2Bits;
            long tableEnd = (l1Index + 1) << _l2Bits;
            long last = Math.Min(tableEnd, (to + ClusterSize - 1) >> _clusterBits);
            var table = GetL2ForWrite(l1Index);
            long run = 0;
            for (long c = cluster; c < last; c++) run += InPlace(table[c & (L2Entries - 1)]) ? 0 : 1;
            long host = run == 0 ? 0 : HasDataFile ? cluster << _clusterBits : Refcounts.Allocate(run);
            for (long c = cluster; c < last; c++)
            {
                int i = (int)(c & (L2Entries - 1));
                if (InPlace(table[i])) continue;
                ReleaseEntry(table[i]);
                if (head != null && c << _clusterBits == from - head.Length) WriteData(host, c << _clusterBits, head);
                table[i] = (ulong)host | Qcow2Entry.Copied;
                host += ClusterSize;
            }
            cluster = last;
        }
        WriteBackMetadata();
        long end = Qcow2Entry.HostOffset(Lookup((to - 1) >> _clusterBits, out _)) + ((to - 1) & (ClusterSize - 1)) + 1;
        if (end > DataFile.Length)
        {
            if (mode == "falloc") DataFile.Allocate(DataFile.Length, end - DataFile.Length);
            else if (mode == "full") Raw.RawFormat.ZeroFill(DataFile, DataFile.Length, end - DataFile.Length);
            DataFile.SetLength(end);
        }
    }

    /// <summary>
    /// What the guest reads in the old end's partial cluster, when a preallocating resize maps that cluster anew:
    /// qemu copies it there (a copy-on-write of the cluster's head, backing data included), so it stays readable.
    /// </summary>
    private byte[]? ReadOldEndHead(long from, Func<ulong, bool> remapped)
    {
        int head = (int)(from & (ClusterSize - 1));
        if (head == 0 || !remapped(Lookup(from >> _clusterBits, out _))) return null;
        var data = new byte[head];
        Read(from - head, data);
        return data;
    }

    /// <summary>
    /// qemu's falloc/full growth: refcount structures for the new clusters placed after the last used cluster,
    /// then the data clusters right behind them, allocated in the file, then mapped (new L2 tables wherever free).
    /// The old end's partial cluster moves to the new area with its head copied. When the backing file reaches
    /// past the old end, qemu's file truncate gives zeros and extended L2 subclusters are marked allocated, so the
    /// backing data does not show through; otherwise the subcluster bitmaps stay as they were.
    /// </summary>
    private void PreallocateData(long from, long to, string mode, bool hidesBacking)
    {
        var head = ReadOldEndHead(from, remapped: _ => true);
        long cs = ClusterSize;
        long fileSize = _file.Length;
        long lastUsed = Refcounts.LastUsedCluster(fileSize);
        fileSize = lastUsed >= 0 ? (lastUsed + 1) * cs : (fileSize + cs - 1) / cs * cs;
        long first = from >> _clusterBits;
        long count = ((to + cs - 1) >> _clusterBits) - first;
        long l2Tables = (count + L2Entries - 1) / L2Entries + 1;
        long start = Refcounts.AddArea(fileSize, count + l2Tables);
        Refcounts.AllocateAt(start, count);
        Refcounts.FlushBlocks();
        long end = start + count * cs;
        if (end > _file.Length)
        {
            long grow = Math.Max(start, _file.Length);
            if (mode == "falloc") _file.Allocate(grow, end - grow);
            else Raw.RawFormat.ZeroFill(_file, grow, end - grow);
            _file.SetLength(end);
        }
        for (long c = first; c < first + count; c++)
        {
            var table = GetL2ForWrite(c >> _l2Bits);
            int i = (int)(c & (L2Entries - 1));
            ReleaseEntry(table[i]);
            long host = start + (c - first) * cs;
            if (head != null && c == first) WriteData(host, c << _clusterBits, head);
            table[i] = (ulong)host | Qcow2Entry.Copied;
            if (_extendedL2 && hidesBacking) CurrentBitmaps(c >> _l2Bits)[i] = uint.MaxValue;
        }
        WriteBackMetadata();
    }

    /// <summary>Drops every cluster past the new end; L2 tables wholly past it are freed too (qemu's full discard).</summary>
    private void Discard(long size)
    {
        BeginMetadataChange();
        long firstCluster = (size + ClusterSize - 1) >> _clusterBits;
        long lastCluster = (Length + ClusterSize - 1) >> _clusterBits;
        for (long l1Index = firstCluster >> _l2Bits; l1Index < _l1.Length; l1Index++)
        {
            long tableOffset = Qcow2Entry.HostOffset(_l1[l1Index]);
            if (tableOffset == 0) continue;
            long tableFirst = l1Index << _l2Bits;
            if (tableFirst >= firstCluster)
            {
                var whole = LoadL2(tableOffset, l1Index);
                foreach (ulong entry in whole) ReleaseEntry(entry);
                _l2.Remove(tableOffset);
                _deferredFrees.Add((tableOffset, 1));
                _l1.Set(l1Index, 0);
                continue;
            }
            var table = GetL2ForWrite(l1Index);
            for (long c = firstCluster; c < Math.Min(lastCluster, tableFirst + L2Entries); c++)
            {
                int i = (int)(c & (L2Entries - 1));
                ReleaseEntry(table[i]);
                table[i] = 0;
                if (_extendedL2) CurrentBitmaps(l1Index)[i] = 0;
            }
        }
    }

    /// <summary>qemu's qcow2_grow_l1_table: a new table in fresh clusters, then the header points at it, then the old one is freed.</summary>
    private void GrowL1(long l1Size)
    {
        BeginMetadataChange();
        _l1.Grow(l1Size, Refcounts);
    }

    /// <summary>Cuts the file after the last cluster with a reference (qemu's qcow2_get_last_cluster, then a truncate).</summary>
    private void TrimAfterLastUsedCluster()
    {
        long last = (_file.Length + ClusterSize - 1) >> _clusterBits;
        while (last > 0 && Refcounts.Get(last - 1) == 0) last--;
        if (last << _clusterBits < _file.Length) _file.SetLength(last << _clusterBits);
    }
}
