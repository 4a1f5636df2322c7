using ImageTool.Check;

namespace ImageTool.Formats.Qed;

/// <summary>
/// qemu's qed_check: every table and data cluster offset valid (aligned, past the header, inside the file) and
/// referenced once; unreferenced clusters are leaks. Repair clears invalid offsets (leaks stay: QED has no free
/// list) and, when nothing is left to fix, clears the need-check bit.
/// </summary>
internal sealed partial class QedImage : ICheckable
{
    public CheckReport Check(CheckRepair repair, Action<string> log)
    {
        bool fix = repair != CheckRepair.None && !IsReadOnly;
        lock (_writeLock)
        {
            var state = new CheckState(this, fix);
            state.CheckL1();
            if (state.CheckErrors == 0)
            {
                state.CountLeaks();
                if (fix && state.Corruptions == 0 && _header.NeedsCheck)
                {
                    _file.Flush();
                    _header = _header with { Features = _header.Features & ~QedHeader.FeatureNeedCheck };
                    WriteHeader();
                }
            }
            return new CheckReport
            {
                Corruptions = state.Corruptions,
                CorruptionsFixed = state.CorruptionsFixed,
                Leaks = state.Leaks,
                CheckErrors = state.CheckErrors,
                TotalClusters = (long)((_header.ImageSize + (ulong)_clusterSize - 1) / (ulong)_clusterSize),
                AllocatedClusters = state.Allocated,
                FragmentedClusters = state.Fragmented,
            };
        }
    }

    private sealed class CheckState(QedImage image, bool fix)
    {
        private readonly ulong _fileSize = image._fileSize;
        private readonly long _clusters = (long)image.BytesToClusters(image._fileSize);
        private readonly HashSet<long> _used = [];
        private ulong _lastOffset;

        public int Corruptions { get; private set; }
        public int CorruptionsFixed { get; private set; }
        public int CheckErrors { get; private set; }
        public int Leaks { get; private set; }
        public long Allocated { get; private set; }
        public long Fragmented { get; private set; }

        /// <summary>Marks clusters used; a cluster referenced twice is a corruption.</summary>
        private bool MarkUsed(ulong offset, uint count)
        {
            long cluster = (long)image.BytesToClusters(offset);
            int twice = 0;
            for (uint i = 0; i < count; i++)
                if (!_used.Add(cluster + i)) twice++;
            Corruptions += twice;
            return twice == 0;
        }

        public void CheckL1()
        {
            var header = image._header;
            MarkUsed(header.L1TableOffset, header.TableSize);
            bool l1Changed = false;
            for (int i = 0; i < image._l1.Length; i++)
            {
                ulong offset = image._l1[i];
                if (offset == 0) continue;
                if (!header.IsTableOffsetValid(offset, _fileSize))
                {
                    if (fix)
                    {
                        image._l1[i] = 0;
                        CorruptionsFixed++;
                        l1Changed = true;
                    }
                    else Corruptions++;
                    continue;
                }
                if (!MarkUsed(offset, header.TableSize)) continue;
                ulong[] table;
                try { table = image.L2(offset, 0); }
                catch (IOException)
                {
                    CheckErrors++;
                    continue;
                }
                if (CheckL2(table) > 0 && fix) image.WriteTable(offset, table, 0, table.Length);
            }
            if (l1Changed) image.WriteTable(header.L1TableOffset, image._l1, 0, image._l1.Length);
        }

        private int CheckL2(ulong[] table)
        {
            int invalid = 0;
            for (int i = 0; i < table.Length; i++)
            {
                ulong offset = table[i];
                if (offset == 0 || offset == ZeroCluster) continue;
                Allocated++;
                if (_lastOffset != 0 && _lastOffset + (ulong)image._clusterSize != offset) Fragmented++;
                _lastOffset = offset;
                if (!image._header.IsClusterOffsetValid(offset, _fileSize))
                {
                    if (fix)
                    {
                        table[i] = 0;
                        CorruptionsFixed++;
                    }
                    else Corruptions++;
                    invalid++;
                    continue;
                }
                MarkUsed(offset, 1);
            }
            return invalid;
        }

        public void CountLeaks()
        {
            for (long i = image._header.HeaderSize; i < _clusters; i++)
                if (!_used.Contains(i)) Leaks++;
        }
    }

    /// <summary>qemu's qed_bytes_to_clusters, which divides by cluster_size - 1 (so past 65535 clusters it counts one more).</summary>
    private ulong BytesToClusters(ulong bytes) =>
        ((bytes + (ulong)_clusterSize - 1) & ~((ulong)_clusterSize - 1)) / ((ulong)_clusterSize - 1);
}
