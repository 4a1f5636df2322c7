using System.Buffers.Binary;
using ImageTool.Check;
using ImageTool.IO;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// qemu's qcow2_check_refcounts: rebuild the refcounts from every reference, compare, check COPIED flags,
/// and repair leaks, wrong refcounts (rebuilding the refcount structure when needed) and flags.
/// Messages are qemu's, printed through the log as qemu prints them on stderr. The L1 table, L2 cache and
/// snapshot table are the image's; changes go through its metadata path (<see cref="IQcow2MetadataPath"/>).
/// </summary>
internal sealed class Qcow2Checker(HostFile file, Qcow2HeaderStore headerStore, Qcow2L1Table l1, Qcow2L2Cache l2,
    Qcow2Snapshots snapshots, int clusterBits, Lock sync, IQcow2MetadataPath image)
{
    private Qcow2Header Header => headerStore.Header;
    private int ClusterSize => 1 << clusterBits;
    private Qcow2Refcounts Refcounts => image.Refcounts;

    private sealed class CheckState
    {
        public ulong[] Refs = [];
        public long FileLength;
        public long Clusters;
        public int Corruptions, Leaks, CheckErrors, CorruptionsFixed, LeaksFixed;
        public long Allocated, Fragmented, Compressed, Highest = -1;
        public bool Rebuild;

        /// <summary>One past the highest cluster referenced: qemu compares up to there, past the file's end too.</summary>
        public long RefsEnd;

        /// <summary>-r all: L2 entries that can be fixed on the spot (qemu's fix_l2_entry_by_zero) are.</summary>
        public bool FixErrors;
    }

    public CheckReport Run(CheckRepair repair, Action<string> log)
    {
        lock (sync)
        {
            if (!image.IsReadOnly) image.WriteBackMetadata();
            else repair = CheckRepair.None;
            var s = new CheckState { FileLength = file.Length, FixErrors = (repair & CheckRepair.Errors) != 0 };
            s.Clusters = (s.FileLength + ClusterSize - 1) >> clusterBits;
            if (s.Clusters > int.MaxValue / 2) throw new ImageFormatException("Check failed: File too large");
            CalculateRefcounts(s, log);
            var beforeCompare = (s.Corruptions, s.Leaks, s.CheckErrors);
            CompareRefcounts(s, CheckRepair.None, log);
            if (s.Rebuild && (repair & CheckRepair.Errors) != 0)
            {
                int oldCorruptions = s.Corruptions, oldLeaks = s.Leaks;
                log("Rebuilding refcount structure");
                RebuildRefcountStructure(s);
                // Recount against the new structure; the old one now shows up as leaks, fixed silently in the totals.
                var fresh = new CheckState { FileLength = file.Length };
                fresh.Clusters = (fresh.FileLength + ClusterSize - 1) >> clusterBits;
                CalculateRefcounts(fresh, log);
                var compare = new CheckState { Refs = fresh.Refs, FileLength = fresh.FileLength, Clusters = fresh.Clusters, RefsEnd = fresh.RefsEnd };
                CompareRefcounts(compare, repair & CheckRepair.Leaks, log);
                if (compare.Rebuild) log("ERROR rebuilt refcount structure is still broken");
                s.Corruptions = fresh.Corruptions;
                s.Leaks = fresh.Leaks;
                s.Highest = compare.Highest;
                if (s.Corruptions < oldCorruptions) s.CorruptionsFixed += oldCorruptions - s.Corruptions;
                if (s.Leaks < oldLeaks) s.LeaksFixed += oldLeaks - s.Leaks;
                s.Leaks += compare.Leaks;
            }
            else if (repair != CheckRepair.None)
            {
                if (s.Rebuild)
                {
                    log("ERROR need to rebuild refcount structures");
                    throw new ImageFormatException("Input/output error");
                }
                if (s.Leaks > 0 || s.Corruptions > 0)
                {
                    (s.Corruptions, s.Leaks, s.CheckErrors) = beforeCompare;
                    CompareRefcounts(s, repair, log);
                }
            }
            CheckCopiedFlags(s, repair, log);
            image.WriteBackMetadata();
            if (repair != CheckRepair.None) file.Flush();
            // qemu: a repair that leaves no corruption marks the image clean and consistent again.
            const ulong clearable = Qcow2Header.IncompatCorrupt | Qcow2Header.IncompatDirty;
            if (repair != CheckRepair.None && s.Corruptions == 0 && s.CheckErrors == 0 && (Header.IncompatibleFeatures & clearable) != 0)
            {
                Header.IncompatibleFeatures &= ~clearable;
                image.WriteHeader();
            }
            return new CheckReport
            {
                Corruptions = s.Corruptions,
                Leaks = s.Leaks,
                CheckErrors = s.CheckErrors,
                CorruptionsFixed = s.CorruptionsFixed,
                LeaksFixed = s.LeaksFixed,
                ImageEndOffset = (s.Highest + 1) << clusterBits,
                TotalClusters = (image.Length + ClusterSize - 1) >> clusterBits,
                AllocatedClusters = s.Allocated,
                FragmentedClusters = s.Fragmented,
                CompressedClusters = s.Compressed,
            };
        }
    }

    private ulong MaxRefcount => Header.RefcountOrder == 6 ? ulong.MaxValue : (1UL << Header.RefcountBits) - 1;

    private void IncRefs(CheckState s, long offset, long size, Action<string> log)
    {
        if (size <= 0) return;
        // Offsets are unsigned in qcow2: one with bit 63 set lies far past the end of the file.
        if (offset < 0 || offset + size - s.FileLength >= ClusterSize)
        {
            log($"ERROR: counting reference for region exceeding the end of the file by one cluster or more: offset 0x{offset:x} size 0x{size:x}");
            s.Corruptions++;
            return;
        }
        long first = offset >> clusterBits, last = (offset + size - 1) >> clusterBits;
        if (last >= s.Refs.Length) Array.Resize(ref s.Refs, (int)Math.Max(last + 1, s.Clusters + 1));
        s.RefsEnd = Math.Max(s.RefsEnd, last + 1);
        for (long k = first; k <= last; k++)
        {
            if (s.Refs[k] == MaxRefcount)
            {
                log($"ERROR: overflow cluster offset=0x{k << clusterBits:x}");
                log($"Use {ProgramName.Current} amend to increase the refcount entry width or {ProgramName.Current} convert to create a clean copy if the image cannot be opened for writing");
                s.Corruptions++;
                continue;
            }
            s.Refs[k]++;
        }
    }

    private void CalculateRefcounts(CheckState s, Action<string> log)
    {
        s.Refs = new ulong[s.Clusters + 1];
        IncRefs(s, 0, ClusterSize, log);
        CheckL1(s, l1.Offset, l1.Entries, active: true, log);
        long snapshotsSize = 0;
        var snapshotL1s = ReadSnapshotL1s();
        for (int n = 0; n < snapshotL1s.Count; n++)
        {
            var (l1Offset, l1Size, end) = snapshotL1s[n];
            snapshotsSize = end;
            string? problem = l1Size > Qcow2Header.MaxL1Bytes / 8 ? $"l1_size={Qcow2Image.Hex(l1Size)}: L1 table is too large"
                : (l1Offset & (ClusterSize - 1)) != 0 ? $"l1_offset={Qcow2Image.Hex(l1Offset)}: L1 table is not cluster aligned" : null;
            if (problem != null)
            {
                var sn = n < snapshots.List.Count ? snapshots.List[n] : null;
                log($"ERROR snapshot {sn?.Id} ({sn?.Name}) {problem}; snapshot table entry corrupted");
                s.Corruptions++;
                continue;
            }
            CheckL1(s, l1Offset, Qcow2L1Table.Read(file, l1Offset, l1Size), active: false, log);
        }
        IncRefs(s, (long)Header.SnapshotsOffset, snapshotsSize, log);
        IncRefs(s, (long)Header.RefcountTableOffset, (long)Header.RefcountTableClusters << clusterBits, log);
        foreach (var (type, data) in Header.OtherExtensions)
        {
            if (type == Qcow2Header.ExtCrypto && data.Length >= 16)
                IncRefs(s, (long)BinaryPrimitives.ReadUInt64BigEndian(data), (long)BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(8)), log);
        }
        CountBitmaps(s, log);
        CheckRefblocks(s, log);
    }

    /// <summary>Persistent dirty bitmaps own their directory, tables and data clusters.</summary>
    private void CountBitmaps(CheckState s, Action<string> log)
    {
        var (directoryOffset, directorySize, bitmaps) = Qcow2Bitmap.ReadDirectory(file, Header);
        IncRefs(s, directoryOffset, directorySize, log);
        foreach (var bitmap in bitmaps)
        {
            if (bitmap.TableSize > Qcow2Header.MaxL1Bytes / 8) continue;
            IncRefs(s, bitmap.TableOffset, bitmap.TableSize * 8, log);
            var table = new byte[bitmap.TableSize * 8];
            file.Read(bitmap.TableOffset, table);
            for (int j = 0; j < bitmap.TableSize; j++)
            {
                long offset = Qcow2Entry.HostOffset(BinaryPrimitives.ReadUInt64BigEndian(table.AsSpan(j * 8)));
                if (offset != 0) IncRefs(s, offset, ClusterSize, log);
            }
        }
    }

    /// <summary>Each snapshot's L1 table (offset, entries) and the table's byte size up to that entry's end.</summary>
    private List<(long L1Offset, long L1Size, long TableEnd)> ReadSnapshotL1s()
    {
        var result = new List<(long, long, long)>();
        long at = (long)Header.SnapshotsOffset;
        Span<byte> h = stackalloc byte[Qcow2Header.SnapshotHeaderSize];
        for (uint n = 0; n < Header.SnapshotCount; n++)
        {
            at = (at + 7) & ~7L;
            file.Read(at, h);
            long l1Offset = (long)BinaryPrimitives.ReadUInt64BigEndian(h);
            long l1Size = BinaryPrimitives.ReadUInt32BigEndian(h[8..]);
            int idSize = BinaryPrimitives.ReadUInt16BigEndian(h[12..]);
            int nameSize = BinaryPrimitives.ReadUInt16BigEndian(h[14..]);
            long extra = BinaryPrimitives.ReadUInt32BigEndian(h[36..]);
            at += Qcow2Header.SnapshotHeaderSize + extra + idSize + nameSize;
            result.Add((l1Offset, l1Size, at - (long)Header.SnapshotsOffset));
        }
        return result;
    }

    private void CheckL1(CheckState s, long l1Offset, ReadOnlySpan<ulong> l1, bool active, Action<string> log)
    {
        IncRefs(s, l1Offset, l1.Length * 8L, log);
        for (int i = 0; i < l1.Length; i++)
        {
            ulong entry = l1[i];
            if (entry == 0) continue;
            if ((entry & Qcow2Entry.L1ReservedMask) != 0)
            {
                log($"ERROR found L1 entry with reserved bits set: {entry:x}");
                s.Corruptions++;
            }
            long l2Offset = Qcow2Entry.HostOffset(entry);
            IncRefs(s, l2Offset, ClusterSize, log);
            if ((l2Offset & (ClusterSize - 1)) != 0)
            {
                log($"ERROR l2_offset={l2Offset:x}: Table is not cluster aligned; L1 entry corrupted");
                s.Corruptions++;
            }
            CheckL2(s, l2Offset, active, log);
        }
    }

    private void CheckL2(CheckState s, long l2Offset, bool active, Action<string> log)
    {
        var table = l2.ReadWithoutCaching(l2Offset, out var bitmaps);
        long nextContiguous = 0;
        for (int index = 0; index < table.Length; index++)
        {
            ulong entry = table[index];
            var type = image.EntryType(entry);
            if (type != Qcow2ClusterType.Compressed && (entry & Qcow2Entry.L2ReservedMask) != 0)
            {
                log($"ERROR found l2 entry with reserved bits set: {entry:x}");
                s.Corruptions++;
            }
            switch (type)
            {
                case Qcow2ClusterType.Compressed:
                    var (offset, length) = Qcow2Entry.CompressedRange(entry & ~Qcow2Entry.Copied, clusterBits);
                    if (Qcow2Entry.IsCopied(entry))
                    {
                        log($"ERROR: coffset=0x{offset:x}: copied flag must never be set for compressed clusters");
                        s.Corruptions++;
                    }
                    IncRefs(s, offset, length, log);
                    if (active)
                    {
                        s.Allocated++;
                        s.Compressed++;
                        s.Fragmented++;
                    }
                    break;
                case Qcow2ClusterType.Normal or Qcow2ClusterType.ZeroAlloc:
                    long host = Qcow2Entry.HostOffset(entry);
                    if ((host & (ClusterSize - 1)) != 0)
                    {
                        s.Corruptions++;
                        // With subclusters the entry holds data when any subcluster is allocated, else when not a zero entry.
                        bool holdsData = bitmaps != null ? (bitmaps[index] & 0xFFFF_FFFFUL) != 0 : type != Qcow2ClusterType.ZeroAlloc;
                        if (holdsData)
                        {
                            log($"ERROR offset={host:x}: Data cluster is not properly aligned; L2 entry corrupted.");
                        }
                        else
                        {
                            log($"{(s.FixErrors ? "Repairing" : "ERROR")} offset={host:x}: Preallocated cluster is not properly aligned; L2 entry corrupted.");
                            // The entry becomes a plain zero entry; its cluster is then unreferenced (a leak the repair frees).
                            if (s.FixErrors && ZeroL2EntryForRepair(s, l2Offset, table, bitmaps, index, log)) continue;
                        }
                    }
                    if (active)
                    {
                        s.Allocated++;
                        if (nextContiguous != 0 && host != nextContiguous) s.Fragmented++;
                        nextContiguous = host + ClusterSize;
                    }
                    if (!image.HasDataFile) IncRefs(s, host, ClusterSize, log);
                    break;
            }
        }
    }

    /// <summary>qemu's fix_l2_entry_by_zero: the L2 entry reads zeros from now on, written through at once.</summary>
    private bool ZeroL2EntryForRepair(CheckState s, long l2Offset, ulong[] table, ulong[]? bitmaps, int index, Action<string> log)
    {
        int entrySize = bitmaps != null ? 16 : 8;
        Span<byte> raw = stackalloc byte[16];
        if (bitmaps != null)
        {
            // Allocated subclusters become zero subclusters.
            ulong bitmap = bitmaps[index];
            bitmap = (bitmap | (bitmap << 32)) & 0xFFFF_FFFF_0000_0000UL;
            bitmaps[index] = bitmap;
            table[index] = 0;
            BinaryPrimitives.WriteUInt64BigEndian(raw[8..], bitmap);
        }
        else
        {
            table[index] = Qcow2Entry.ZeroFlag;
        }
        BinaryPrimitives.WriteUInt64BigEndian(raw, table[index]);
        long at = l2Offset + ((long)index * entrySize);
        if (image.FindOverlap(at, entrySize, Qcow2Image.Metadata.ActiveL2) != Qcow2Image.Metadata.None)
        {
            log("ERROR: Overlap check failed");
            s.CheckErrors++;
            return false;
        }
        try
        {
            file.Write(at, raw[..entrySize]);
            file.Flush();
        }
        catch (IOException e)
        {
            log($"ERROR: Failed to overwrite L2 table entry: {e.Message}");
            s.CheckErrors++;
            return false;
        }
        s.Corruptions--;
        s.CorruptionsFixed++;
        return true;
    }

    private void CheckRefblocks(CheckState s, Action<string> log)
    {
        var table = Refcounts.Table;
        for (int i = 0; i < table.Count; i++)
        {
            ulong entry = table[i];
            long offset = (long)(entry & ~0x1FFUL);
            if ((entry & 0x1FF) != 0)
            {
                log($"ERROR refcount table entry {i} has reserved bits set");
                s.Corruptions++;
                s.Rebuild = true;
                continue;
            }
            if ((offset & (ClusterSize - 1)) != 0)
            {
                log($"ERROR refcount block {i} is not cluster aligned; refcount table entry corrupted");
                s.Corruptions++;
                s.Rebuild = true;
                continue;
            }
            long cluster = offset >> clusterBits;
            if (cluster < 0 || cluster >= s.Clusters)
            {
                s.Corruptions++;
                s.Rebuild = true;
                log($"ERROR refcount block {i} is outside image");
                continue;
            }
            if (offset == 0) continue;
            IncRefs(s, offset, ClusterSize, log);
            if (s.Refs[cluster] != 1)
            {
                log($"ERROR refcount block {i} refcount={s.Refs[cluster]}");
                s.Corruptions++;
                s.Rebuild = true;
            }
        }
    }

    private void CompareRefcounts(CheckState s, CheckRepair fix, Action<string> log)
    {
        for (long i = 0, end = Math.Max(s.Clusters, s.RefsEnd); i < end; i++)
        {
            ulong onDisk;
            try { onDisk = Refcounts.Get(i); }
            catch (ImageFormatException)
            {
                log($"Can't get refcount for cluster {i}: Input/output error");
                s.CheckErrors++;
                continue;
            }
            ulong counted = s.Refs[i];
            if (onDisk > 0 || counted > 0) s.Highest = i;
            if (onDisk == counted) continue;
            bool fixing = false;
            if (onDisk == 0) s.Rebuild = true;
            else if (onDisk > counted && (fix & CheckRepair.Leaks) != 0) fixing = true;
            else if (onDisk < counted && (fix & CheckRepair.Errors) != 0) fixing = true;
            log($"{(fixing ? "Repairing" : onDisk < counted ? "ERROR" : "Leaked")} cluster {i} refcount={onDisk} reference={counted}");
            if (fixing)
            {
                Refcounts.Change(i, (long)counted - (long)onDisk);
                if (onDisk > counted) s.LeaksFixed++;
                else s.CorruptionsFixed++;
                continue;
            }
            if (onDisk < counted) s.Corruptions++;
            else s.Leaks++;
        }
    }

    private void CheckCopiedFlags(CheckState s, CheckRepair fix, Action<string> log)
    {
        bool repair = (fix & CheckRepair.Errors) != 0
            || ((fix & CheckRepair.Leaks) != 0 && s.CheckErrors == 0 && s.Corruptions == 0 && s.Leaks == 0);
        string verb = repair ? "Repairing" : "ERROR";
        for (int i = 0; i < l1.Length; i++)
        {
            ulong l1Entry = l1[i];
            long l2Offset = Qcow2Entry.HostOffset(l1Entry);
            if (l2Offset == 0) continue;
            ulong refcount;
            try { refcount = Refcounts.Get(l2Offset >> clusterBits); }
            catch (ImageFormatException) { continue; }
            if ((refcount == 1) != Qcow2Entry.IsCopied(l1Entry))
            {
                log($"{verb} OFLAG_COPIED L2 cluster: l1_index={i} l1_entry={l1Entry:x} refcount={refcount}");
                if (repair)
                {
                    l1.Set(i, refcount == 1 ? l1Entry | Qcow2Entry.Copied : l1Entry & ~Qcow2Entry.Copied);
                    s.CorruptionsFixed++;
                }
                else s.Corruptions++;
            }
            if ((l2Offset & (ClusterSize - 1)) != 0) continue;
            var table = image.LoadL2(l2Offset, i);
            for (int j = 0; j < table.Length; j++)
            {
                ulong entry = table[j];
                var type = image.EntryType(entry);
                if (type is not (Qcow2ClusterType.Normal or Qcow2ClusterType.ZeroAlloc)) continue;
                // Clusters of an external data file are not refcounted; qemu takes them as refcount 1.
                try { refcount = image.HasDataFile ? 1 : Refcounts.Get(Qcow2Entry.HostOffset(entry) >> clusterBits); }
                catch (ImageFormatException) { continue; }
                if ((refcount == 1) == Qcow2Entry.IsCopied(entry)) continue;
                log($"{verb} OFLAG_COPIED data cluster: l2_entry={entry:x} refcount={refcount}");
                if (repair)
                {
                    table[j] = refcount == 1 ? entry | Qcow2Entry.Copied : entry & ~Qcow2Entry.Copied;
                    l2.MarkDirty(l2Offset);
                    s.CorruptionsFixed++;
                }
                else s.Corruptions++;
            }
        }
    }

    /// <summary>
    /// Writes a new refcount table and blocks from the counted references, in free clusters of the
    /// counted map (qemu's rebuild_refcount_structure); the old structure is simply no longer referenced.
    /// </summary>
    private void RebuildRefcountStructure(CheckState s)
    {
        var refs = s.Refs;
        int perBlock = 1 << (clusterBits + 3 - Header.RefcountOrder);
        long firstFree = 0;
        long AllocateInMap(long count)
        {
            long start = firstFree;
            for (long c = start; c - start < count; c++)
            {
                if (c >= refs.Length) Array.Resize(ref refs, (int)Math.Max(c + 1, refs.Length * 2L));
                if (refs[c] != 0) start = c + 1;
            }
            for (long c = start; c < start + count; c++) refs[c] = 1;
            if (start == firstFree) firstFree = start + count;
            return start;
        }
        var blocks = new Dictionary<long, long>();
        long tableStart = -1, tableClusters = 0;
        while (true)
        {
            long highest = refs.Length - 1;
            while (highest >= 0 && refs[highest] == 0) highest--;
            bool changed = false;
            for (long b = 0; b <= highest / perBlock; b++)
            {
                if (blocks.ContainsKey(b)) continue;
                bool used = false;
                for (long c = b * perBlock; c < Math.Min((b + 1) * perBlock, refs.Length) && !used; c++) used = refs[c] != 0;
                if (!used) continue;
                blocks[b] = AllocateInMap(1);
                changed = true;
            }
            long neededEntries = blocks.Count == 0 ? 1 : blocks.Keys.Max() + 1;
            long neededClusters = (neededEntries * 8 + ClusterSize - 1) >> clusterBits;
            if (neededClusters > tableClusters)
            {
                if (tableStart >= 0) for (long c = tableStart; c < tableStart + tableClusters; c++) refs[c] = 0;
                tableClusters = neededClusters;
                tableStart = AllocateInMap(tableClusters);
                changed = true;
            }
            if (!changed) break;
        }
        var block = new byte[ClusterSize];
        foreach (var (b, cluster) in blocks.OrderBy(kv => kv.Key))
        {
            Array.Clear(block);
            for (int i = 0; i < perBlock; i++)
            {
                long c = b * perBlock + i;
                if (c < refs.Length && refs[c] != 0) Qcow2Refcounts.SetEntry(block, Header.RefcountOrder, i, refs[c]);
            }
            file.Write(cluster << clusterBits, block);
        }
        var table = new byte[tableClusters << clusterBits];
        foreach (var (b, cluster) in blocks) BinaryPrimitives.WriteUInt64BigEndian(table.AsSpan((int)(b * 8)), (ulong)(cluster << clusterBits));
        file.Write(tableStart << clusterBits, table);
        file.Flush();
        headerStore.SetRefcountTable((ulong)(tableStart << clusterBits), (uint)tableClusters);
        image.DropRefcounts();
    }
}
