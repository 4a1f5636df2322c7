using ImageTool.Codecs;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// Compressed cluster payloads (FORMATS.md §3): zlib = raw deflate with qemu's settings, zstd = one level-3 frame.
/// A payload must fit in <c>cluster_size - 1</c> bytes, else qemu stores the cluster uncompressed.
/// </summary>
internal static class Qcow2Compression
{
    public const byte Zlib = 0;
    public const byte Zstd = 1;

    /// <summary>The stored form of <paramref name="cluster"/>, or null when it does not shrink. Pure and thread-safe.</summary>
    public static byte[]? Compress(byte compressionType, ReadOnlySpan<byte> cluster)
    {
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(cluster.Length - 1);
        try
        {
            var dst = buffer.AsSpan(0, cluster.Length - 1);
            int n = compressionType == Zstd ? ZstdCodec.Compress(cluster, dst) : RawDeflater.ForCurrentThread.Compress(cluster, dst);
            return n < 0 ? null : dst[..n].ToArray();
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

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
