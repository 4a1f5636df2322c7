using System.IO.Compression;

namespace ImageTool.Formats.Vmdk;

/// <summary>
/// streamOptimized grains are zlib streams *with* the 2-byte header (what zlib's compress() writes);
/// qemu cannot read raw deflate there (verified).
/// </summary>
internal static class VmdkCompression
{
    /// <summary>Compresses one grain; CompressionLevel.Optimal is zlib level 6, qemu's compress() default.</summary>
    public static byte[] Deflate(ReadOnlySpan<byte> grain)
    {
        var output = new MemoryStream(grain.Length / 2 + 64);
        using (var z = new ZLibStream(output, CompressionLevel.Optimal, leaveOpen: true))
            z.Write(grain);
        return output.ToArray();
    }

    /// <summary>Inflates into <paramref name="grain"/>; the byte count, or null when the stream is corrupt or too long.</summary>
    public static unsafe int? Inflate(ReadOnlySpan<byte> compressed, Span<byte> grain)
    {
        fixed (byte* p = compressed)
        {
            using var input = new UnmanagedMemoryStream(p, compressed.Length);
            using var z = new ZLibStream(input, CompressionMode.Decompress);
            try
            {
                int total = 0;
                while (total < grain.Length)
                {
                    int n = z.Read(grain[total..]);
                    if (n == 0) return total;
                    total += n;
                }
                Span<byte> extra = stackalloc byte[1];
                return z.Read(extra) == 0 ? total : null;
            }
            catch (InvalidDataException)
            {
                return null;
            }
        }
    }
}
