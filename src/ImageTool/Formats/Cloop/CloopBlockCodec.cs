using System.IO.Compression;

namespace ImageTool.Formats.Cloop;

/// <summary>cloop blocks are zlib streams with header (qemu inflates them with inflateInit), one per block.</summary>
internal static class CloopBlockCodec
{
    /// <summary>Inflates one block; true only when the stream ends exactly at <paramref name="output"/>'s length (qemu's rule).</summary>
    public static bool TryInflate(byte[] compressed, int length, Span<byte> output)
    {
        try
        {
            using var z = new ZLibStream(new MemoryStream(compressed, 0, length, writable: false), CompressionMode.Decompress);
            if (z.ReadAtLeast(output, output.Length, throwOnEndOfStream: false) != output.Length) return false;
            Span<byte> more = stackalloc byte[1];
            return z.Read(more) == 0;
        }
        catch (InvalidDataException)
        {
            return false;
        }
    }

    /// <summary>Compresses one whole block; deterministic for the same input.</summary>
    public static void Deflate(ReadOnlySpan<byte> block, MemoryStream output, CompressionLevel level)
    {
        output.SetLength(0);
        using var z = new ZLibStream(output, level, leaveOpen: true);
        z.Write(block);
    }
}
