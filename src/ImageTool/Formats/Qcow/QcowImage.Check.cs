using ImageTool.Check;

namespace ImageTool.Formats.Qcow;

/// <summary>
/// qemu-img has no check for qcow; ours verifies that every table and cluster lies inside the file,
/// is aligned as qemu allocates it, and that nothing overlaps (header, backing name, L1, L2 tables, data).
/// </summary>
internal sealed partial class QcowImage : ICheckable
{
    public CheckReport Check(CheckRepair repair, Action<string> log)
    {
        long fileLength = _file.Length;
        int corruptions = 0;
        var extents = new List<(long Start, long Length, string What)>
        {
            (0, QcowHeader.Size, "header"),
            ((long)_header.L1TableOffset, _l1.Length * 8L, "L1 table"),
        };
        if (_header.BackingFileOffset != 0)
            extents.Add(((long)_header.BackingFileOffset, _header.BackingFileSize, "backing file name"));
        long allocated = 0, compressed = 0, fragmented = 0;
        long previousEnd = -1;
        int tableBytes = _header.L2Entries * 8;
        var seenTables = new HashSet<ulong>();
        for (long l1Index = 0; l1Index < _l1.Length; l1Index++)
        {
            ulong l2Offset = _l1[l1Index];
            if (l2Offset == 0) continue;
            if (l2Offset > (ulong)fileLength || (ulong)tableBytes > (ulong)fileLength - l2Offset)
            {
                log($"ERROR L1 entry {l1Index}: L2 table offset 0x{l2Offset:x} lies beyond the end of the file");
                corruptions++;
                continue;
            }
            if (!seenTables.Add(l2Offset))
            {
                log($"ERROR L1 entry {l1Index}: L2 table 0x{l2Offset:x} is shared with another L1 entry");
                corruptions++;
                continue;
            }
            extents.Add(((long)l2Offset, tableBytes, $"L2 table {l1Index}"));
            var table = L2(l2Offset);
            for (int i = 0; i < table.Length; i++)
            {
                ulong entry = table[i];
                if (entry == 0) continue;
                long guestCluster = (l1Index << _l2Bits) + i;
                if (guestCluster << _clusterBits >= Length)
                {
                    log($"ERROR cluster {guestCluster} is mapped but lies beyond the virtual size");
                    corruptions++;
                    continue;
                }
                allocated++;
                long start, length;
                if (IsCompressed(entry))
                {
                    compressed++;
                    (start, length) = CompressedLocation(entry);
                }
                else
                {
                    (start, length) = ((long)entry, _clusterSize);
                    if ((start & (_clusterSize - 1)) != 0)
                    {
                        log($"ERROR cluster {guestCluster}: offset 0x{start:x} is not cluster aligned");
                        corruptions++;
                    }
                }
                if (start > fileLength || length > fileLength - start)
                {
                    log($"ERROR cluster {guestCluster}: data at offset 0x{start:x} (+{length}) lies beyond the end of the file");
                    corruptions++;
                    continue;
                }
                if (previousEnd >= 0 && start != previousEnd) fragmented++;
                previousEnd = start + length;
                extents.Add((start, length, $"cluster {guestCluster}"));
            }
        }
        extents.Sort((a, b) => a.Start.CompareTo(b.Start));
        long end = 0;
        string endWhat = "";
        foreach (var (start, length, what) in extents)
        {
            if (length == 0) continue;
            if (start < end)
            {
                log($"ERROR {what} at offset 0x{start:x} overlaps {endWhat}");
                corruptions++;
            }
            if (start + length > end)
            {
                end = start + length;
                endWhat = what;
            }
        }
        return new CheckReport
        {
            Corruptions = corruptions,
            ImageEndOffset = fileLength,
            TotalClusters = (Length + _clusterSize - 1) >> _clusterBits,
            AllocatedClusters = allocated,
            FragmentedClusters = fragmented,
            CompressedClusters = compressed,
        };
    }
}
