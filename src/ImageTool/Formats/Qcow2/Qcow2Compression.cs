using ImageTool.Codecs;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// Compressed cluster payloads (FORMATS.md §3): zlib = raw deflate with a 4 KiB window, zstd = one level-3 frame.
/// A payload must fit in <c>cluster_size - 1</c> bytes, else qemu stores the cluster uncompressed.
/// </summary>
internal static class Qcow2Compression
{
    public const byte Zlib = 0;
    public const byte Zstd = 1;

    /// <summary>
    /// Writes the stored form of <paramref name="cluster"/> into <paramref name="destination"/> (<c>cluster_size - 1</c>
    /// bytes: a payload must shrink) and returns its length, or -1 when it does not fit. Pure and thread-safe. zstd
    /// always goes through qemu's libzstd at its level; zlib is qemu's exact bytes only when <paramref name="qemuIdentical"/>.
    /// </summary>
    public static int Compress(byte compressionType, ReadOnlySpan<byte> cluster, Span<byte> destination, bool qemuIdentical) =>
        compressionType == Zstd ? ZstdCodec.Compress(cluster, destination) : ClusterDeflate.Compress(cluster, destination, qemuIdentical);

    /// <summary>Decodes a stored payload (with whatever trailing bytes were read along) into exactly one cluster.</summary>
    public static void Decompress(byte compressionType, ReadOnlySpan<byte> stored, Span<byte> cluster, ulong descriptor)
    {
        bool ok = compressionType == Zstd ? ZstdCodec.TryDecompress(stored, cluster) : RawInflater.TryDecompress(stored, cluster);
        if (!ok)
            throw new ImageCorruptException($"Corrupt compressed cluster (L2 entry {descriptor:x16}): it does not decompress to {cluster.Length} bytes");
    }

    /// <summary>The L2 descriptor for a payload of <paramref name="length"/> bytes at host byte offset <paramref name="offset"/>.</summary>
    public static ulong Descriptor(long offset, int length, int clusterBits)
    {
        int shift = 62 - (clusterBits - 8);
        ulong sectors = (ulong)(((offset + length - 1) >> 9) - (offset >> 9));
        return (1UL << 62) | (sectors << shift) | (ulong)offset;
    }
}
