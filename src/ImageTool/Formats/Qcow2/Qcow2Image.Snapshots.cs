namespace ImageTool.Formats.Qcow2;

/// <summary>
/// Internal snapshots (FORMATS.md §6, qemu's block/qcow2-snapshot.c). A snapshot owns a copy of the L1 table; every
/// L2 table and data cluster gets one reference per L1 that reaches it, so copy-on-write of shared tables keeps the
/// counts right. COPIED flags in the active tree are recomputed after each change (snapshot L1 copies keep stale ones).
/// </summary>
internal sealed partial class Qcow2Image
{
    private List<Qcow2Snapshot>? _snapshotList;
    private long _snapshotTableSize;

    /// <summary>The snapshot table (read at open).</summary>
    internal IReadOnlyList<Qcow2Snapshot> Snapshots => LoadSnapshots();

    private List<Qcow2Snapshot> LoadSnapshots()
    {
        if (_snapshotList != null) return _snapshotList;
        var (list, size) = Qcow2SnapshotTable.Read(_file, (long)_header.SnapshotsOffset, (int)_header.SnapshotCount, ClusterSize, Length);
        _snapshotTableSize = size;
        return _snapshotList = list;
    }

    /// <summary>qemu-img snapshot -c: a new snapshot of the current state (duplicate names allowed, new ID = max + 1).</summary>
    public Qcow2Snapshot CreateSnapshot(string name, DateTimeOffset now)
    {
        if (IsReadOnly) throw new InvalidOperationException("The image is read-only");
        // qemu's limit, checked before anything is allocated: a table that claims the maximum already stays as it is.
        if (LoadSnapshots().Count >= Qcow2SnapshotTable.MaxSnapshots) throw new ImageFormatException("-27 (File too large)");
        if (HasDataFile) throw new ImageFormatException("-95 (Operation not supported)");
        lock (_lock)
        {
            var list = LoadSnapshots();
            WriteBackMetadata();
            // qemu fails with EINVAL when a reference would push a refcount past the width's maximum (refcount_bits=1
            // holds only 1). It finds out after writing the L1 copy, whose cluster then stays allocated (leaked);
            // img checks first and changes no other refcount, as qemu's rollback leaves them.
            bool overflow = TreeWouldOverflow(_l1.Entries);
            BeginMetadataChange();
            long l1Offset = 0;
            if (_l1.Length > 0)
            {
                // A verbatim copy of the active L1, COPIED bits included (as qemu writes it).
                l1Offset = Refcounts.Allocate(ClustersFor(_l1.ByteLength));
                _file.Write(l1Offset, Qcow2L1Table.Encode(_l1.Entries));
            }
            if (overflow)
            {
                Refcounts.FlushBlocks();
                throw new ImageFormatException("-22 (Invalid argument)");
            }
            AdjustTree(_l1.Entries, +1);
            FixCopiedFlags();
            WriteBackMetadata();
            long micros = (now.ToUnixTimeMilliseconds() * 1000) + (now.Ticks / 10 % 1000);
            var snapshot = new Qcow2Snapshot
            {
                L1TableOffset = l1Offset,
                L1Size = _l1.Length,
                Id = Qcow2SnapshotTable.NextId(list),
                Name = name,
                DateSec = (uint)(micros / 1_000_000),
                DateNsec = (uint)(micros % 1_000_000 * 1000),
                DiskSize = Length,
                Icount = 0,
            };
            WriteSnapshotTable([.. list, snapshot]);
            _file.Flush();
            return snapshot;
        }
    }

    /// <summary>
    /// qemu-img snapshot -a: matches an ID first, then a name. A broken snapshot L1 table is reported through
    /// <paramref name="report"/> before the failure, as qemu prints it.
    /// </summary>
    public void ApplySnapshot(string idOrName, Action<string>? report = null)
    {
        if (IsReadOnly) throw new InvalidOperationException("The image is read-only");
        lock (_lock)
        {
            var list = LoadSnapshots();
            var sn = list.Find(s => s.Id == idOrName) ?? list.Find(s => s.Name == idOrName)
                ?? throw new ImageFormatException("Failed to load snapshot: No such file or directory");
            ulong[] snL1;
            try { snL1 = ReadSnapshotL1(sn); }
            catch (SnapshotTableException e)
            {
                report?.Invoke(e.Message);
                throw new ImageFormatException($"Failed to load snapshot: {e.Errno}");
            }
            WriteBackMetadata();
            BeginMetadataChange();
            // As qemu: the current state takes the snapshot's size first (a shrink discards its clusters past the end).
            if (sn.DiskSize != Length) Resize(sn.DiskSize, "off");
            if (snL1.Length > _l1.Length) GrowL1(snL1.Length);
            var newL1 = new ulong[_l1.Length];
            snL1.CopyTo(newL1, 0);
            // References for the snapshot's tree first, then the switch, then the old tree's references go.
            AdjustTree(newL1, +1);
            var old = _l1.Replace(newL1);
            WriteBackMetadata();
            _file.Flush();
            WithDiscards(() =>
            {
                AdjustTree(old, -1);
                FixCopiedFlags();
                WriteBackMetadata();
            });
            _file.Flush();
        }
    }

    /// <summary>qemu-img snapshot -d: the first snapshot with that name (7.2 does not match IDs here).</summary>
    public void DeleteSnapshot(string name)
    {
        if (IsReadOnly) throw new InvalidOperationException("The image is read-only");
        lock (_lock)
        {
            var list = LoadSnapshots();
            int index = list.FindIndex(s => s.Name == name);
            if (index < 0) throw new ImageFormatException("snapshot not found");
            var sn = list[index];
            ulong[] snL1 = ReadSnapshotL1(sn);
            WriteBackMetadata();
            BeginMetadataChange();
            var rest = new List<Qcow2Snapshot>(list);
            rest.RemoveAt(index);
            WithDiscards(() =>
            {
                WriteSnapshotTable(rest);
                // Past this point the entry is gone; qemu only leaks the clusters when freeing them fails.
                try
                {
                    AdjustTree(snL1, -1);
                    if (sn.L1Size > 0) Refcounts.Free(sn.L1TableOffset, ClustersFor(sn.L1Size * 8L));
                    FixCopiedFlags();
                    WriteBackMetadata();
                }
                catch (IOException e)
                {
                    // The refcounts in memory no longer match the file: nothing more is written (qemu's close fails too).
                    _unusable = true;
                    throw new ImageFormatException($"Failed to free the cluster and L1 table: {Operations.SourceErrors.Errno(e)}", e);
                }
            });
            _file.Flush();
        }
    }

    /// <summary>
    /// Read-only view of a snapshot (convert -l / -s, qemu's bdrv_snapshot_load_tmp): with both given, both must match.
    /// </summary>
    internal void LoadSnapshotForReading(string? id, string? name)
    {
        if (!IsReadOnly) throw new InvalidOperationException("A snapshot can only be loaded into a read-only image");
        lock (_lock)
        {
            var sn = LoadSnapshots().Find(s => (id == null || s.Id == id) && (name == null || s.Name == name))
                ?? throw new ImageFormatException("Can't find snapshot");
            _l1.ShowReadOnly(ReadSnapshotL1(sn, forWriting: false));
            _header.Size = (ulong)sn.DiskSize;
            _l2.Clear();
        }
    }

    /// <summary>Runs <paramref name="action"/> with freed clusters punched out of the file, as qemu's snapshot code and shrink do.</summary>
    private void WithDiscards(Action action)
    {
        bool before = Refcounts.DiscardFreed;
        Refcounts.DiscardFreed = true;
        try { action(); }
        finally { Refcounts.DiscardFreed = before; }
    }

    private long ClustersFor(long bytes) => (bytes + ClusterSize - 1) >> _clusterBits;

    /// <summary>A snapshot's L1 table, validated; <paramref name="forWriting"/> also refuses tables sharing clusters with other metadata.</summary>
    private ulong[] ReadSnapshotL1(Qcow2Snapshot sn, bool forWriting = true)
    {
        // qemu's qcow2_validate_table, plus: the table must lie inside the file, after the header.
        long bytes = sn.L1Size * 8L;
        if (bytes > Qcow2Header.MaxL1Bytes) throw new SnapshotTableException("Snapshot L1 table too large", "File too large");
        if ((sn.L1TableOffset & (ClusterSize - 1)) != 0 || sn.L1Size > 0 && (sn.L1TableOffset <= 0 || sn.L1TableOffset + bytes > _file.Length))
            throw new SnapshotTableException("Snapshot L1 table offset invalid", "Invalid argument");
        if (sn.L1Size == 0) return [];
        if (forWriting && SnapshotL1Overlap(sn, bytes) is { } other)
            throw new SnapshotTableException($"Snapshot L1 table overlaps with {other}", "Invalid argument");
        var l1 = Qcow2L1Table.Read(_file, sn.L1TableOffset, sn.L1Size);
        for (int i = 0; i < l1.Length; i++)
        {
            if ((l1[i] & Qcow2Entry.L1ReservedMask) != 0 || (Qcow2Entry.HostOffset(l1[i]) & (ClusterSize - 1)) != 0)
                throw new ImageCorruptException($"Snapshot '{sn.Name}' L1 entry {i} is invalid");
        }
        return l1;
    }

    /// <summary>
    /// What else a snapshot's L1 table shares clusters with (null when nothing): applying or deleting such a snapshot
    /// would free or overwrite live metadata, so img refuses before writing anything.
    /// </summary>
    private string? SnapshotL1Overlap(Qcow2Snapshot sn, long bytes)
    {
        long first = sn.L1TableOffset >> _clusterBits, last = (sn.L1TableOffset + bytes - 1) >> _clusterBits;
        bool Hits(long offset, long length) =>
            length > 0 && offset >> _clusterBits <= last && (offset + length - 1) >> _clusterBits >= first;
        if (Hits(0, ClusterSize)) return "the image header";
        if (Hits(_l1.Offset, _l1.ByteLength)) return "the active L1 table";
        if (Hits((long)_header.RefcountTableOffset, (long)_header.RefcountTableClusters << _clusterBits)) return "the refcount table";
        if (Hits((long)_header.SnapshotsOffset, _snapshotTableSize)) return "the snapshot table";
        foreach (var other in LoadSnapshots())
        {
            if (!ReferenceEquals(other, sn) && Hits(other.L1TableOffset, other.L1Size * 8L)) return $"the L1 table of snapshot {other.Id}";
        }
        return null;
    }

    /// <summary>Whether one more reference to the tree of <paramref name="l1"/> would overflow some cluster's refcount.</summary>
    private bool TreeWouldOverflow(ReadOnlySpan<ulong> l1)
    {
        ulong max = Refcounts.MaxRefcount;
        var added = new Dictionary<long, ulong>();
        bool Add(long cluster)
        {
            ulong n = added.GetValueOrDefault(cluster) + 1;
            added[cluster] = n;
            return Refcounts.Get(cluster) > max - n;
        }
        for (int i = 0; i < l1.Length; i++)
        {
            long l2Offset = Qcow2Entry.HostOffset(l1[i]);
            if (l2Offset == 0) continue;
            foreach (ulong entry in LoadL2(l2Offset, i))
            {
                switch (EntryType(entry))
                {
                    case Qcow2ClusterType.Normal or Qcow2ClusterType.ZeroAlloc:
                        if (Add(Qcow2Entry.HostOffset(entry) >> _clusterBits)) return true;
                        break;
                    case Qcow2ClusterType.Compressed:
                        var (offset, length) = Qcow2Entry.CompressedRange(entry, _clusterBits);
                        for (long c = offset >> _clusterBits; c <= (offset + length - 1) >> _clusterBits; c++)
                        {
                            if (Add(c)) return true;
                        }
                        break;
                }
            }
            if (Add(l2Offset >> _clusterBits)) return true;
        }
        return false;
    }

    /// <summary>Adds <paramref name="addend"/> to every L2 table and every data cluster the tree of <paramref name="l1"/> reaches.</summary>
    private void AdjustTree(ReadOnlySpan<ulong> l1, int addend)
    {
        for (int i = 0; i < l1.Length; i++)
        {
            long l2Offset = Qcow2Entry.HostOffset(l1[i]);
            if (l2Offset == 0) continue;
            var table = LoadL2(l2Offset, i);
            foreach (ulong entry in table)
            {
                switch (EntryType(entry))
                {
                    case Qcow2ClusterType.Normal or Qcow2ClusterType.ZeroAlloc:
                        Refcounts.Change(Qcow2Entry.HostOffset(entry) >> _clusterBits, addend);
                        break;
                    case Qcow2ClusterType.Compressed:
                        var (offset, length) = Qcow2Entry.CompressedRange(entry, _clusterBits);
                        for (long c = offset >> _clusterBits; c <= (offset + length - 1) >> _clusterBits; c++) Refcounts.Change(c, addend);
                        break;
                }
            }
            Refcounts.Change(l2Offset >> _clusterBits, addend);
            if (addend < 0 && Refcounts.Get(l2Offset >> _clusterBits) == 0)
            {
                _l2.Remove(l2Offset);
            }
        }
    }

    /// <summary>COPIED = (refcount == 1) on the active L1 and its L2 entries; never on compressed or unallocated entries.</summary>
    private void FixCopiedFlags()
    {
        for (int i = 0; i < _l1.Length; i++)
        {
            long l2Offset = Qcow2Entry.HostOffset(_l1[i]);
            if (l2Offset == 0) continue;
            ulong l1Entry = Refcounts.Get(l2Offset >> _clusterBits) == 1 ? _l1[i] | Qcow2Entry.Copied : _l1[i] & ~Qcow2Entry.Copied;
            if (l1Entry != _l1[i]) _l1.Set(i, l1Entry);
            var table = LoadL2(l2Offset, i);
            bool changed = false;
            for (int j = 0; j < table.Length; j++)
            {
                ulong e = table[j];
                ulong fixedEntry = EntryType(e) is Qcow2ClusterType.Normal or Qcow2ClusterType.ZeroAlloc
                    && Refcounts.Get(Qcow2Entry.HostOffset(e) >> _clusterBits) == 1
                    ? e | Qcow2Entry.Copied
                    : e & ~Qcow2Entry.Copied;
                if (fixedEntry != e)
                {
                    table[j] = fixedEntry;
                    changed = true;
                }
            }
            if (changed)
            {
                _l2.MarkDirty(l2Offset);
            }
        }
    }

    /// <summary>Writes a new table in fresh clusters, points the header at it, then frees the old one (qcow2_write_snapshots).</summary>
    private void WriteSnapshotTable(List<Qcow2Snapshot> snapshots)
    {
        byte[] table = Qcow2SnapshotTable.Serialize(snapshots);
        if (table.Length > Qcow2SnapshotTable.MaxTableSize) throw new ImageFormatException("-27 (File too large)");
        long offset = 0;
        if (snapshots.Count > 0)
        {
            offset = Refcounts.Allocate(ClustersFor(table.Length));
            _file.Write(offset, table);
        }
        Refcounts.FlushBlocks();
        _file.Flush();
        long oldOffset = (long)_header.SnapshotsOffset;
        long oldSize = _snapshotTableSize;
        _headerStore.SetSnapshotTable((uint)snapshots.Count, (ulong)offset);
        if (oldOffset != 0 && oldSize > 0)
        {
            // A broken old table (say, past the end of the file) or a failed refcount update only costs a warning
            // (qcow2_free_clusters): the clusters leak, as in qemu.
            _file.DebugEvent(Protocols.Blkdebug.BlkdebugEvent.ClusterFree);
            try
            {
                WithDiscards(() => Refcounts.Free(oldOffset, ClustersFor(oldSize)));
                Refcounts.FlushBlocks();
            }
            catch (ImageCorruptException) { _warning?.Invoke("qcow2_free_clusters failed: Invalid argument"); }
            catch (IOException e) { _warning?.Invoke($"qcow2_free_clusters failed: {Operations.SourceErrors.Errno(e)}"); }
        }
        _snapshotList = snapshots;
        _snapshotTableSize = table.Length;
    }
}
