using System.IO.Compression;

namespace ImageTool.Formats.Vmdk;

/// <summary>
/// streamOptimized grains are zlib streams *with* the 2-byte header (what zlib's compress() writes);
/// qemu cannot read raw deflate there (verified).
/// </summary>
internal static class VmdkCompression
{
    // qemu's compress() uses level 6. Level 4 of the runtime's zlib-ng measured 25 % faster on an ext4 image of
    // binaries with output only 1 % larger (ratio .443 against .438), and any level reads back everywhere.
    private static readonly ZLibCompressionOptions Options = new() { CompressionLevel = 4 };

    /// <summary>Compresses one grain into a zlib stream (header 78 xx, Adler-32 trailer).</summary>
    public static byte[] Deflate(ReadOnlySpan<byte> grain)
    {
        var output = new MemoryStream(grain.Length / 2 + 64);
        using (var z = new ZLibStream(output, Options, leaveOpen: true))
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
                    if (n == 0) break;
                    total += n;
                }
                Span<byte> extra = stackalloc byte[1];
                return total == grain.Length && z.Read(extra) != 0 ? null : total;
            }
            catch (InvalidDataException)
            {
                return null;
            }
        }
    }
}
