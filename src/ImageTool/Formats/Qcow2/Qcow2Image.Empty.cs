using System.Buffers.Binary;
using ImageTool.Capabilities;
using ImageTool.Protocols.Blkdebug;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// Emptying after commit. A v3 image with nothing but guest data (no snapshots, bitmaps, LUKS header or data file)
/// is reset as qemu's make_completely_empty does: the L1 table and the clusters after the header are zeroed, the
/// header names a fresh refcount table (cluster 1), refcount block (cluster 2) and L1 table (cluster 3), and the file
/// is cut after them. The image is marked dirty meanwhile, so a failure part-way leaves an image the next open
/// repairs; nothing more is written to it after a failure. Other images unmap cluster by cluster.
/// </summary>
internal sealed partial class Qcow2Image : IMakeEmpty
{
    public void MakeEmpty()
    {
        lock (_lock)
        {
            if (CanEmptyCompletely(out int l1Clusters)) EmptyCompletely(l1Clusters);
            else UnmapEverything();
        }
    }

    private bool CanEmptyCompletely(out int l1Clusters)
    {
        l1Clusters = (int)ClustersFor(_l1.Length * 8L);
        long refblockEntries = (long)ClusterSize * 8 / _header.RefcountBits;
        return _header.Version >= 3 && _header.SnapshotCount == 0 && 3 + l1Clusters <= refblockEntries
            && !_encryption.IsLuks && !HasDataFile && !_bitmaps.Any;
    }

    private void EmptyCompletely(int l1Clusters)
    {
        WriteBackMetadata();
        _l2.Clear();
        _file.Flush();
        if ((_header.IncompatibleFeatures & Qcow2Header.IncompatDirty) == 0)
            _headerStore.SetIncompatibleFeatures(_header.IncompatibleFeatures | Qcow2Header.IncompatDirty);
        try
        {
            long cs = ClusterSize;
            _file.DebugEvent(BlkdebugEvent.L1Update);
            _l1.ZeroOnDisk(l1Clusters);
            _file.DebugEvent(BlkdebugEvent.EmptyImagePrepare);
            _file.Write(cs, new byte[(2 + l1Clusters) * cs]);
            _file.DebugEvent(BlkdebugEvent.L1Update);
            _file.DebugEvent(BlkdebugEvent.ReftableUpdate);
            _headerStore.SetL1AndRefcountTable((ulong)(3 * cs), (ulong)cs, 1);
            // qemu's first allocation (header, tables, L1) hooks in the refcount block it places at cluster 2.
            _file.DebugEvent(BlkdebugEvent.RefblockAlloc);
            var block = new byte[cs];
            for (int i = 0; i < 3 + l1Clusters; i++) Qcow2Refcounts.SetEntry(block, _header.RefcountOrder, i, 1);
            _file.Write(2 * cs, block);
            Span<byte> entry = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(entry, (ulong)(2 * cs));
            _file.Write(cs, entry);
            _file.Flush();
            _refcounts = null;
            _deferredFrees.Clear();
            _headerStore.SetIncompatibleFeatures(_header.IncompatibleFeatures & ~Qcow2Header.IncompatDirty);
            _markedDirty = false;
            _file.SetLength((3 + l1Clusters) * cs);
        }
        catch (IOException)
        {
            // As qemu ejecting the node: the on-disk refcounts no longer match, so nothing else is written.
            _unusable = true;
            throw;
        }
    }

    /// <summary>Unmaps every guest cluster and trims the file past the last cluster still in use.</summary>
    private void UnmapEverything()
    {
        BeginMetadataChange();
        for (int i = 0; i < _l1.Length; i++)
        {
            long l2Offset = Qcow2Entry.HostOffset(_l1[i]);
            if (l2Offset == 0) continue;
            foreach (ulong entry in LoadL2(l2Offset, i)) ReleaseEntry(entry);
            _deferredFrees.Add((l2Offset, 1));
            _l1.Set(i, 0);
        }
        WriteBackMetadata();
        _l2.Clear();
        _file.Flush();
        TrimAfterLastUsedCluster();
    }
}
