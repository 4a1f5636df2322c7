using ZstdSharp;
using ZstdSharp.Unsafe;

namespace ImageTool.Codecs;

/// <summary>
/// zstd clusters as qemu stores them (FORMATS.md §3.3): one frame at level 3 with the content size and no checksum;
/// the reader decodes frames until the cluster is full and ignores the trailing bytes qcow2 reads along (so the
/// one-shot <c>Unwrap</c>, which rejects trailing bytes, cannot be used). Thread-safe: one context per thread.
/// </summary>
internal static unsafe class ZstdCodec
{
    public const int QemuLevel = 3;

    [ThreadStatic] private static Compressor? t_compressor;
    [ThreadStatic] private static DecompressorContext? t_decompressor;

    /// <summary>The compressed length, or -1 when the frame does not fit in <paramref name="destination"/>.</summary>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var compressor = t_compressor ??= new Compressor(QemuLevel);
        try
        {
            return compressor.TryWrap(source, destination, out int written) ? written : -1;
        }
        catch (ZstdException)
        {
            return -1;
        }
    }

    /// <summary>
    /// True when the frames in <paramref name="source"/> fill <paramref name="destination"/> exactly and the last one
    /// ends there (qemu's rule); false for damaged, short or overlong data.
    /// </summary>
    public static bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (source.IsEmpty) return destination.IsEmpty;
        var context = t_decompressor ??= new DecompressorContext();
        return context.Decompress(source, destination);
    }

    private sealed class DecompressorContext
    {
        private ZSTD_DCtx_s* _dctx = Methods.ZSTD_createDCtx();

        ~DecompressorContext()
        {
            if (_dctx != null) Methods.ZSTD_freeDCtx(_dctx);
            _dctx = null;
        }

        public bool Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
        {
            Methods.ZSTD_DCtx_reset(_dctx, ZSTD_ResetDirective.ZSTD_reset_session_only);
            fixed (byte* src = source)
            fixed (byte* dst = destination)
            {
                var input = new ZSTD_inBuffer_s { src = src, size = (nuint)source.Length, pos = 0 };
                var output = new ZSTD_outBuffer_s { dst = dst, size = (nuint)destination.Length, pos = 0 };
                nuint ret = 0;
                while (output.pos < output.size)
                {
                    nuint inBefore = input.pos, outBefore = output.pos;
                    ret = Methods.ZSTD_decompressStream(_dctx, &output, &input);
                    if (Methods.ZSTD_isError(ret)) return false;
                    if (input.pos == inBefore && output.pos == outBefore) return false;
                }
                // A frame still unfinished when the cluster is full means damaged data (qemu: -EIO).
                return ret == 0;
            }
        }
    }
}
