using ImageTool.IO;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// Data clusters filled by the kernel from another host file (convert's copy offload): new host clusters are
/// allocated, the bytes moved (or shared) into them, and only the clusters that arrived are mapped, so the
/// image never claims data it does not hold.
/// </summary>
internal sealed partial class Qcow2Image : IHostFileCopyTarget
{
    private HostCopy? _hostCopy;

    private HostCopy HostCopy => _hostCopy ??= new HostCopy(_file);

    // Encrypted clusters are not the source's bytes; subclusters and external data files are left to Write.
    private bool TakesHostCopies => !_encryption.IsEnabled && !HasDataFile && !_extendedL2;

    public bool CanClone => TakesHostCopies && HostCopy.CanClone;

    public long CopyFromHostFile(HostFile source, long sourceOffset, long offset, long length, bool cloneOnly)
    {
        BlockDeviceChecks.CheckWrite(this, offset, length);
        long clusters = length >> _clusterBits;
        if (!TakesHostCopies || (offset & (ClusterSize - 1)) != 0 || clusters == 0 || !HostCopy.MayMove(cloneOnly)) return 0;
        long done = 0;
        lock (_lock)
        {
            ThrowIfUnusable(offset);
            try
            {
                while (done < clusters)
                {
                    long cluster = (offset >> _clusterBits) + done;
                    int moved = CopyIntoTable(source, sourceOffset + (done << _clusterBits), cluster, clusters - done, cloneOnly);
                    done += moved;
                    if (moved == 0 || ((cluster + moved) & (L2Entries - 1)) != 0) break;
                }
            }
            catch (ImageCorruptException e)
            {
                throw Fail(offset, e);
            }
            _bitmaps.MarkDirty(offset, done << _clusterBits);
        }
        return done << _clusterBits;
    }

    /// <summary>Moves up to <paramref name="clusters"/> clusters that fall in one L2 table; returns how many were mapped.</summary>
    private int CopyIntoTable(HostFile source, long sourceOffset, long cluster, long clusters, bool cloneOnly)
    {
        long cs = ClusterSize;
        int i = (int)(cluster & (L2Entries - 1));
        int count = (int)Math.Min(clusters, L2Entries - i);
        Lookup(cluster, out _, forWrite: true);
        var table = GetL2ForWrite(cluster >> _l2Bits);
        BeginMetadataChange();
        long host = Refcounts.Allocate(count);
        CheckOverlap(host, count * cs);
        int mapped = 0;
        try
        {
            mapped = (int)(HostCopy.Copy(source, sourceOffset, host, count * cs, cloneOnly) >> _clusterBits);
        }
        finally
        {
            // Clusters that did not arrive were never referenced: they are given back at once, so the writes that
            // follow allocate them again and the file is laid out as without the attempt.
            if (mapped < count) Refcounts.Free(host + mapped * cs, count - mapped);
        }
        for (int k = 0; k < mapped; k++)
        {
            ReleaseEntry(table[i + k]);
            table[i + k] = (ulong)(host + k * cs) | Qcow2Entry.Copied;
        }
        return mapped;
    }
}
