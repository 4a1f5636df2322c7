using System.IO.Compression;

namespace ImageTool.Codecs;

/// <summary>
/// Inflates one raw-deflate cluster: with ISA-L where it is installed (about twice the speed), else the BCL inflater.
/// Both accept a 32 KiB window (a superset of qemu's 4 KiB streams, which qemu 7.2 also accepts) and ignore the
/// bytes after the stream end that qcow2 reads along.
/// </summary>
internal static class RawInflater
{
    /// <summary>
    /// True when <paramref name="source"/> inflates to at least <paramref name="destination"/>.Length bytes (qemu's rule:
    /// the cluster buffer must be filled); false for a short or invalid stream.
    /// </summary>
    public static unsafe bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (source.IsEmpty) return destination.IsEmpty;
        if (IsalInflater.ForCurrentThread is { } fast) return fast.TryDecompress(source, destination);
        fixed (byte* src = source)
        {
            using var input = new UnmanagedMemoryStream(src, source.Length);
            using var inflater = new DeflateStream(input, CompressionMode.Decompress);
            try
            {
                return inflater.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false) == destination.Length;
            }
            catch (InvalidDataException)
            {
                return false;
            }
        }
    }
}
