namespace ImageTool.Codecs;

/// <summary>
/// zstd clusters as qemu stores them (FORMATS.md §3.3): one frame at level 3 with the content size and no checksum;
/// the reader decodes frames until the cluster is full and ignores the trailing bytes qcow2 reads along (so a
/// one-shot decompress, which rejects trailing bytes, cannot be used). Thread-safe: one context per thread.
/// The library is the system libzstd (<see cref="ZstdNative"/> says why).
/// </summary>
internal static unsafe class ZstdCodec
{
    public const int QemuLevel = 3;

    [ThreadStatic] private static CompressorContext? t_compressor;
    [ThreadStatic] private static DecompressorContext? t_decompressor;

    /// <summary>The compressed length, or -1 when the frame does not fit in <paramref name="destination"/>.</summary>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination) =>
        (t_compressor ??= new CompressorContext()).Compress(source, destination);

    /// <summary>
    /// True when the frames in <paramref name="source"/> fill <paramref name="destination"/> exactly and the last one
    /// ends there (qemu's rule); false for damaged, short or overlong data.
    /// </summary>
    public static bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (source.IsEmpty) return destination.IsEmpty;
        return (t_decompressor ??= new DecompressorContext()).Decompress(source, destination);
    }

    /// <summary>A ZSTD_CCtx at qemu's level, freed by the finalizer when its thread is gone.</summary>
    private sealed class CompressorContext : NativeCodec
    {
        private IntPtr _cctx;

        public CompressorContext()
        {
            _cctx = ZstdNative.CreateCCtx();
            if (_cctx == IntPtr.Zero) throw new OutOfMemoryException("ZSTD_createCCtx failed");
            ZstdNative.CCtxSetParameter(_cctx, ZstdNative.CompressionLevelParameter, QemuLevel);
        }

        protected override void FreeNative()
        {
            if (_cctx != IntPtr.Zero) ZstdNative.FreeCCtx(_cctx);
            _cctx = IntPtr.Zero;
        }

        public int Compress(ReadOnlySpan<byte> source, Span<byte> destination)
        {
            fixed (byte* src = source)
            fixed (byte* dst = destination)
            {
                // One call with the whole input: the frame carries the content size, as qemu's ZSTD_e_end stream does.
                nuint n = ZstdNative.Compress2(_cctx, dst, (nuint)destination.Length, src, (nuint)source.Length);
                return ZstdNative.IsError(n) != 0 ? -1 : (int)n;
            }
        }
    }

    /// <summary>A ZSTD_DCtx, freed by the finalizer when its thread is gone.</summary>
    private sealed class DecompressorContext : NativeCodec
    {
        private IntPtr _dctx;

        public DecompressorContext()
        {
            _dctx = ZstdNative.CreateDCtx();
            if (_dctx == IntPtr.Zero) throw new OutOfMemoryException("ZSTD_createDCtx failed");
        }

        protected override void FreeNative()
        {
            if (_dctx != IntPtr.Zero) ZstdNative.FreeDCtx(_dctx);
            _dctx = IntPtr.Zero;
        }

        public bool Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
        {
            ZstdNative.DCtxReset(_dctx, ZstdNative.ResetSessionOnly);
            fixed (byte* src = source)
            fixed (byte* dst = destination)
            {
                var input = new ZstdNative.InBuffer { Src = src, Size = (nuint)source.Length };
                var output = new ZstdNative.OutBuffer { Dst = dst, Size = (nuint)destination.Length };
                nuint ret = 0;
                while (output.Pos < output.Size)
                {
                    nuint inBefore = input.Pos, outBefore = output.Pos;
                    ret = ZstdNative.DecompressStream(_dctx, &output, &input);
                    if (ZstdNative.IsError(ret) != 0) return false;
                    if (input.Pos == inBefore && output.Pos == outBefore) return false;
                }
                // A frame still unfinished when the cluster is full means damaged data (qemu: -EIO).
                return ret == 0;
            }
        }
    }
}
