using System.Buffers.Binary;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// amend refcount_bits: qemu's qcow2_change_refcount_order. New refcount blocks and a new table are allocated
/// through the old structures (walking them again until a walk allocates nothing), then written, then the
/// header switches to them and the old blocks and table are freed through the new ones.
/// </summary>
internal sealed partial class Qcow2Image
{
    /// <summary>One pass over the old refcounts, cut into blocks of the new width.</summary>
    private sealed class RefcountWalk(Qcow2Refcounts old, int order, int clusterBits)
    {
        public ulong[] NewTable = [];
        public long NewTableOffset;
        public long AllocatedTableEntries;
        public int NewEntriesPerBlock => 1 << (clusterBits + 3 - order);

        /// <summary>
        /// Visits every old refcount (absent blocks count as zeros) and hands each finished new block to
        /// <paramref name="finish"/> with its table index and whether it holds only zeros. With
        /// <paramref name="block"/>, the new block's entries are filled in as the walk goes.
        /// </summary>
        public void Run(byte[]? block, Action<long, bool> finish, int index, int total, Action<long, long> status)
        {
            int perNew = NewEntriesPerBlock;
            int newBits = 1 << order;
            long newIndex = 0;
            int inNew = 0;
            bool empty = true;
            void Complete()
            {
                finish(newIndex++, empty);
                inNew = 0;
                empty = true;
                if (block != null) Array.Clear(block);
            }
            for (long r = 0; r < old.Table.Count; r++)
            {
                long tableSize = old.Table.Count;
                status(index * tableSize + r, total * tableSize);
                bool present = (old.Table[(int)r] & ~0x1FFUL) != 0;
                int perOld = old.EntriesPerBlock;
                for (int i = 0; i < perOld;)
                {
                    if (inNew >= perNew) Complete();
                    if (!present)
                    {
                        // No refcount block: all zeros, skipped in one step.
                        int n = Math.Min(perOld - i, perNew - inNew);
                        inNew += n;
                        i += n;
                        continue;
                    }
                    ulong refcount = old.Get(r * perOld + i);
                    if (newBits < 64 && refcount >> newBits != 0)
                    {
                        long offset = (r * perOld + i) << clusterBits;
                        throw new ImageFormatException(
                            $"Cannot decrease refcount entry width to {newBits} bits: Cluster at offset {Hex(offset)} has a refcount of {refcount}");
                    }
                    if (block != null && refcount != 0) Qcow2Refcounts.SetEntry(block, order, inNew, refcount);
                    inNew++;
                    i++;
                    empty &= refcount == 0;
                }
            }
            if (inNew > 0) Complete();
            long size = old.Table.Count;
            status((index + 1) * size, total * size);
        }
    }

    private void ChangeRefcountOrder(int order, Action<long, long> status)
    {
        WriteBackMetadata();
        var old = Refcounts;
        var walk = new RefcountWalk(old, order, _clusterBits);
        int walkIndex = 0;
        bool allocated;
        try
        {
            do
            {
                allocated = false;
                int total = Math.Max(walkIndex + 2, 3);
                walk.Run(null, (i, empty) => allocated |= AllocateNewRefcountBlock(walk, old, i, empty), walkIndex++, total, status);
                if (!allocated) continue;
                if (walk.NewTableOffset != 0) old.Free(walk.NewTableOffset, ClustersFor(walk.AllocatedTableEntries * 8));
                walk.NewTableOffset = old.Allocate(ClustersFor(walk.NewTable.Length * 8L));
                walk.AllocatedTableEntries = walk.NewTable.Length;
            } while (allocated);

            var block = new byte[ClusterSize];
            walk.Run(block, (i, empty) =>
            {
                if (i < walk.NewTable.Length && walk.NewTable[i] != 0) _file.Write((long)walk.NewTable[i], block);
            }, walkIndex, walkIndex + 1, status);
        }
        catch
        {
            // As qemu: what was allocated for the new structures is given back.
            foreach (ulong offset in walk.NewTable.Where(o => o != 0)) old.Free((long)offset, 1);
            if (walk.NewTableOffset != 0) old.Free(walk.NewTableOffset, ClustersFor(walk.AllocatedTableEntries * 8));
            old.FlushBlocks();
            throw;
        }

        var raw = new byte[walk.NewTable.Length * 8];
        for (int i = 0; i < walk.NewTable.Length; i++) BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(i * 8), walk.NewTable[i]);
        _file.Write(walk.NewTableOffset, raw);
        old.FlushBlocks();
        _file.Flush();

        var oldTable = old.Table.ToArray();
        long oldTableOffset = old.TableOffset;
        int oldTableClusters = old.TableClusters;
        _header.RefcountOrder = order;
        _header.RefcountTableOffset = (ulong)walk.NewTableOffset;
        _header.RefcountTableClusters = (uint)ClustersFor(walk.NewTable.Length * 8L);
        WriteHeader();
        _refcounts = null;
        foreach (ulong entry in oldTable)
        {
            long offset = (long)(entry & ~0x1FFUL);
            if (offset != 0) Refcounts.Free(offset, 1);
        }
        Refcounts.Free(oldTableOffset, oldTableClusters);
        Refcounts.FlushBlocks();
        _file.Flush();
    }

    /// <summary>qemu's alloc_refblock: a cluster for each new block that is not all zeros, the table grown to hold it.</summary>
    private bool AllocateNewRefcountBlock(RefcountWalk walk, Qcow2Refcounts old, long index, bool empty)
    {
        if (empty) return false;
        if (index >= walk.NewTable.Length)
        {
            long perCluster = ClusterSize / 8;
            long size = (index + 1 + perCluster - 1) / perCluster * perCluster;
            if (size * 8 > Qcow2Header.MaxRefcountTableBytes)
                throw new ImageFormatException("This operation would make the refcount table grow beyond the maximum size supported by QEMU, aborting");
            Array.Resize(ref walk.NewTable, (int)size);
        }
        if (walk.NewTable[index] != 0) return false;
        walk.NewTable[index] = (ulong)old.Allocate(1);
        return true;
    }
}
