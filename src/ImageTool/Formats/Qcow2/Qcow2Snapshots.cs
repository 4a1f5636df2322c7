using ImageTool.IO;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// Internal snapshots (FORMATS.md §6, qemu's block/qcow2-snapshot.c): the snapshot table and the changes to it. A
/// snapshot owns a copy of the L1 table; every L2 table and data cluster gets one reference per L1 that reaches it, so
/// copy-on-write of shared tables keeps the counts right. COPIED flags in the active tree are recomputed after each
/// change (snapshot L1 copies keep stale ones). The L1 table and L2 cache are the image's; writes go through its
/// metadata path (<see cref="IQcow2MetadataPath"/>), under its lock.
/// </summary>
internal sealed class Qcow2Snapshots(HostFile file, Qcow2HeaderStore headerStore, Qcow2L1Table l1, Qcow2L2Cache l2, int clusterBits,
    Lock sync, IQcow2MetadataPath image)
{
    private List<Qcow2Snapshot>? _list;
    private long _tableSize;

    private Qcow2Header Header => headerStore.Header;
    private int ClusterSize => 1 << clusterBits;
    private Qcow2Refcounts Refcounts => image.Refcounts;

    /// <summary>The snapshot table, read on first use (the image reads it at open).</summary>
    public IReadOnlyList<Qcow2Snapshot> List => Load();

    /// <summary>The table's size in bytes as it lies in the file.</summary>
    public long TableSize
    {
        get
        {
            Load();
            return _tableSize;
        }
    }

    private List<Qcow2Snapshot> Load()
    {
        if (_list != null) return _list;
        var (list, size) = Qcow2SnapshotTable.Read(file, (long)Header.SnapshotsOffset, (int)Header.SnapshotCount, ClusterSize, image.Length);
        _tableSize = size;
        return _list = list;
    }

    /// <summary>qemu-img snapshot -c: a new snapshot of the current state (duplicate names allowed, new ID = max + 1).</summary>
    public Qcow2Snapshot Create(string name, DateTimeOffset now)
    {
        if (image.IsReadOnly) throw new InvalidOperationException("The image is read-only");
        // qemu's limit, checked before anything is allocated: a table that claims the maximum already stays as it is.
        if (Load().Count >= Qcow2SnapshotTable.MaxSnapshots) throw new ImageFormatException("-27 (File too large)");
        if (image.HasDataFile) throw new ImageFormatException("-95 (Operation not supported)");
        lock (sync)
        {
            var list = Load();
            image.WriteBackMetadata();
            // qemu fails with EINVAL when a reference would push a refcount past the width's maximum (refcount_bits=1
            // holds only 1). It finds out after writing the L1 copy, whose cluster then stays allocated (leaked);
            // img checks first and changes no other refcount, as qemu's rollback leaves them.
            bool overflow = TreeWouldOverflow(l1.Entries);
            image.BeginMetadataChange();
            long l1Offset = 0;
            if (l1.Length > 0)
            {
                // A verbatim copy of the active L1, COPIED bits included (as qemu writes it).
                l1Offset = Refcounts.Allocate(ClustersFor(l1.ByteLength));
                file.Write(l1Offset, Qcow2L1Table.Encode(l1.Entries));
            }
            if (overflow)
            {
                Refcounts.FlushBlocks();
                throw new ImageFormatException("-22 (Invalid argument)");
            }
            AdjustTree(l1.Entries, +1);
            FixCopiedFlags();
            image.WriteBackMetadata();
            long micros = (now.ToUnixTimeMilliseconds() * 1000) + (now.Ticks / 10 % 1000);
            var snapshot = new Qcow2Snapshot
            {
                L1TableOffset = l1Offset,
                L1Size = l1.Length,
                Id = Qcow2SnapshotTable.NextId(list),
                Name = name,
                DateSec = (uint)(micros / 1_000_000),
                DateNsec = (uint)(micros % 1_000_000 * 1000),
                DiskSize = image.Length,
                Icount = 0,
            };
            WriteSnapshotTable([.. list, snapshot]);
            file.Flush();
            return snapshot;
        }
    }

    /// <summary>
    /// qemu-img snapshot -a: matches an ID first, then a name. A broken snapshot L1 table is reported through
    /// <paramref name="report"/> before the failure, as qemu prints it.
    /// </summary>
    public void Apply(string idOrName, Action<string>? report = null)
    {
        if (image.IsReadOnly) throw new InvalidOperationException("The image is read-only");
        lock (sync)
        {
            var list = Load();
            var sn = list.Find(s => s.Id == idOrName) ?? list.Find(s => s.Name == idOrName)
                ?? throw new ImageFormatException("Failed to load snapshot: No such file or directory");
            ulong[] snL1;
            try { snL1 = ReadSnapshotL1(sn); }
            catch (SnapshotTableException e)
            {
                report?.Invoke(e.Message);
                throw new ImageFormatException($"Failed to load snapshot: {e.Errno}");
            }
            image.WriteBackMetadata();
            image.BeginMetadataChange();
            // As qemu: the current state takes the snapshot's size first (a shrink discards its clusters past the end).
            if (sn.DiskSize != image.Length) image.Resize(sn.DiskSize, "off");
            if (snL1.Length > l1.Length) image.GrowL1(snL1.Length);
            var newL1 = new ulong[l1.Length];
            snL1.CopyTo(newL1, 0);
            // References for the snapshot's tree first, then the switch, then the old tree's references go.
            AdjustTree(newL1, +1);
            var old = l1.Replace(newL1);
            image.WriteBackMetadata();
            file.Flush();
            image.WithDiscards(() =>
            {
                AdjustTree(old, -1);
                FixCopiedFlags();
                image.WriteBackMetadata();
            });
            file.Flush();
        }
    }

    /// <summary>qemu-img snapshot -d: the first snapshot with that name (7.2 does not match IDs here).</summary>
    public void Delete(string name)
    {
        if (image.IsReadOnly) throw new InvalidOperationException("The image is read-only");
        lock (sync)
        {
            var list = Load();
            int index = list.FindIndex(s => s.Name == name);
            if (index < 0) throw new ImageFormatException("snapshot not found");
            var sn = list[index];
            ulong[] snL1 = ReadSnapshotL1(sn);
            image.WriteBackMetadata();
            image.BeginMetadataChange();
            var rest = new List<Qcow2Snapshot>(list);
            rest.RemoveAt(index);
            image.WithDiscards(() =>
            {
                WriteSnapshotTable(rest);
                // Past this point the entry is gone; qemu only leaks the clusters when freeing them fails.
                try
                {
                    AdjustTree(snL1, -1);
                    if (sn.L1Size > 0) Refcounts.Free(sn.L1TableOffset, ClustersFor(sn.L1Size * 8L));
                    FixCopiedFlags();
                    image.WriteBackMetadata();
                }
                catch (IOException e)
                {
                    // The refcounts in memory no longer match the file: nothing more is written (qemu's close fails too).
                    image.MarkUnusable();
                    throw new ImageFormatException($"Failed to free the cluster and L1 table: {Operations.SourceErrors.Errno(e)}", e);
                }
            });
            file.Flush();
        }
    }

    /// <summary>
    /// Read-only view of a snapshot (convert -l / -s, qemu's bdrv_snapshot_load_tmp): with both given, both must match.
    /// </summary>
    public void LoadForReading(string? id, string? name)
    {
        if (!image.IsReadOnly) throw new InvalidOperationException("A snapshot can only be loaded into a read-only image");
        lock (sync)
        {
            var sn = Load().Find(s => (id == null || s.Id == id) && (name == null || s.Name == name))
                ?? throw new ImageFormatException("Can't find snapshot");
            l1.ShowReadOnly(ReadSnapshotL1(sn, forWriting: false));
            Header.Size = (ulong)sn.DiskSize;
            l2.Clear();
        }
    }

    private long ClustersFor(long bytes) => (bytes + ClusterSize - 1) >> clusterBits;

    /// <summary>A snapshot's L1 table, validated; <paramref name="forWriting"/> also refuses tables sharing clusters with other metadata.</summary>
    private ulong[] ReadSnapshotL1(Qcow2Snapshot sn, bool forWriting = true)
    {
        // qemu's qcow2_validate_table, plus: the table must lie inside the file, after the header.
        long bytes = sn.L1Size * 8L;
        if (bytes > Qcow2Header.MaxL1Bytes) throw new SnapshotTableException("Snapshot L1 table too large", "File too large");
        if ((sn.L1TableOffset & (ClusterSize - 1)) != 0 || sn.L1Size > 0 && (sn.L1TableOffset <= 0 || sn.L1TableOffset + bytes > file.Length))
            throw new SnapshotTableException("Snapshot L1 table offset invalid", "Invalid argument");
        if (sn.L1Size == 0) return [];
        if (forWriting && SnapshotL1Overlap(sn, bytes) is { } other)
            throw new SnapshotTableException($"Snapshot L1 table overlaps with {other}", "Invalid argument");
        var l1 = Qcow2L1Table.Read(file, sn.L1TableOffset, sn.L1Size);
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
        long first = sn.L1TableOffset >> clusterBits, last = (sn.L1TableOffset + bytes - 1) >> clusterBits;
        bool Hits(long offset, long length) =>
            length > 0 && offset >> clusterBits <= last && (offset + length - 1) >> clusterBits >= first;
        if (Hits(0, ClusterSize)) return "the image header";
        if (Hits(l1.Offset, l1.ByteLength)) return "the active L1 table";
        if (Hits((long)Header.RefcountTableOffset, (long)Header.RefcountTableClusters << clusterBits)) return "the refcount table";
        if (Hits((long)Header.SnapshotsOffset, _tableSize)) return "the snapshot table";
        foreach (var other in Load())
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
            foreach (ulong entry in image.LoadL2(l2Offset, i))
            {
                switch (image.EntryType(entry))
                {
                    case Qcow2ClusterType.Normal or Qcow2ClusterType.ZeroAlloc:
                        if (Add(Qcow2Entry.HostOffset(entry) >> clusterBits)) return true;
                        break;
                    case Qcow2ClusterType.Compressed:
                        var (offset, length) = Qcow2Entry.CompressedRange(entry, clusterBits);
                        for (long c = offset >> clusterBits; c <= (offset + length - 1) >> clusterBits; c++)
                        {
                            if (Add(c)) return true;
                        }
                        break;
                }
            }
            if (Add(l2Offset >> clusterBits)) return true;
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
            var table = image.LoadL2(l2Offset, i);
            foreach (ulong entry in table)
            {
                switch (image.EntryType(entry))
                {
                    case Qcow2ClusterType.Normal or Qcow2ClusterType.ZeroAlloc:
                        Refcounts.Change(Qcow2Entry.HostOffset(entry) >> clusterBits, addend);
                        break;
                    case Qcow2ClusterType.Compressed:
                        var (offset, length) = Qcow2Entry.CompressedRange(entry, clusterBits);
                        for (long c = offset >> clusterBits; c <= (offset + length - 1) >> clusterBits; c++) Refcounts.Change(c, addend);
                        break;
                }
            }
            Refcounts.Change(l2Offset >> clusterBits, addend);
            if (addend < 0 && Refcounts.Get(l2Offset >> clusterBits) == 0)
            {
                l2.Remove(l2Offset);
            }
        }
    }

    /// <summary>COPIED = (refcount == 1) on the active L1 and its L2 entries; never on compressed or unallocated entries.</summary>
    private void FixCopiedFlags()
    {
        for (int i = 0; i < l1.Length; i++)
        {
            long l2Offset = Qcow2Entry.HostOffset(l1[i]);
            if (l2Offset == 0) continue;
            ulong l1Entry = Refcounts.Get(l2Offset >> clusterBits) == 1 ? l1[i] | Qcow2Entry.Copied : l1[i] & ~Qcow2Entry.Copied;
            if (l1Entry != l1[i]) l1.Set(i, l1Entry);
            var table = image.LoadL2(l2Offset, i);
            bool changed = false;
            for (int j = 0; j < table.Length; j++)
            {
                ulong e = table[j];
                ulong fixedEntry = image.EntryType(e) is Qcow2ClusterType.Normal or Qcow2ClusterType.ZeroAlloc
                    && Refcounts.Get(Qcow2Entry.HostOffset(e) >> clusterBits) == 1
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
                l2.MarkDirty(l2Offset);
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
            file.Write(offset, table);
        }
        Refcounts.FlushBlocks();
        file.Flush();
        long oldOffset = (long)Header.SnapshotsOffset;
        long oldSize = _tableSize;
        headerStore.SetSnapshotTable((uint)snapshots.Count, (ulong)offset);
        if (oldOffset != 0 && oldSize > 0)
        {
            // A broken old table (say, past the end of the file) or a failed refcount update only costs a warning
            // (qcow2_free_clusters): the clusters leak, as in qemu.
            file.DebugEvent(Protocols.Blkdebug.BlkdebugEvent.ClusterFree);
            try
            {
                image.WithDiscards(() => Refcounts.Free(oldOffset, ClustersFor(oldSize)));
                Refcounts.FlushBlocks();
            }
            catch (ImageCorruptException) { image.Warning?.Invoke("qcow2_free_clusters failed: Invalid argument"); }
            catch (IOException e) { image.Warning?.Invoke($"qcow2_free_clusters failed: {Operations.SourceErrors.Errno(e)}"); }
        }
        _list = snapshots;
        _tableSize = table.Length;
    }
}
