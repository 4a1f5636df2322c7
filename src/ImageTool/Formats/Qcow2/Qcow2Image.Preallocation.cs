using ImageTool.IO;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// qemu's detection of a metadata-preallocated image (far more clusters referenced than the host file holds):
/// only for such images does qemu's block status look at the host file, reporting its holes as zeros.
/// </summary>
internal sealed partial class Qcow2Image
{
    private bool? _metadataPreallocated;

    /// <summary>Whether block status refines data runs with the host file's holes. Caller holds the lock.</summary>
    private bool MetadataPreallocated => _metadataPreallocated ??= DetectMetadataPreallocation();

    private bool DetectMetadataPreallocation()
    {
        try
        {
            long realClusters = (_file.AllocatedBytes ?? 0) / ClusterSize;
            long threshold = Math.Max(realClusters * 10 / 9, realClusters + 2);
            long endCluster = (_file.Length + ClusterSize - 1) / ClusterSize;
            long count = 0;
            for (long i = 0; i < endCluster && count < threshold; i++)
                if (Refcounts.Get(i) != 0) count++;
            return count >= threshold;
        }
        catch (Exception e) when (e is ImageFormatException or IOException)
        {
            return false; // qemu ignores errors here: block status stays as the tables say
        }
    }
}
