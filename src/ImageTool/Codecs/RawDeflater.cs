using System.Runtime.InteropServices;

namespace ImageTool.Codecs;

/// <summary>
/// Raw deflate exactly as qemu writes qcow/qcow2 clusters: zlib level 6, windowBits -12 (4 KiB window), memLevel 9,
/// one <c>deflate(Z_FINISH)</c> per cluster. Not thread-safe: use one per thread (<see cref="ForCurrentThread"/>).
/// </summary>
internal sealed unsafe class RawDeflater : NativeCodec
{
    public const int QemuLevel = 6;
    public const int QemuWindowBits = 12;
    private const int MemLevel = 9;

    [ThreadStatic] private static RawDeflater? t_current;

    private ZlibNative.ZStream* _stream;

    public RawDeflater(int level = QemuLevel, int windowBits = QemuWindowBits)
    {
        _stream = (ZlibNative.ZStream*)NativeMemory.AllocZeroed((nuint)sizeof(ZlibNative.ZStream));
        int rc = ZlibNative.DeflateInit2(_stream, level, ZlibNative.ZDeflated, -windowBits, MemLevel,
            ZlibNative.ZDefaultStrategy, "1.2.13", sizeof(ZlibNative.ZStream));
        if (rc != ZlibNative.ZOk)
        {
            NativeMemory.Free(_stream);
            _stream = null;
            throw new InvalidOperationException($"zlib deflateInit2 failed ({rc})");
        }
    }

    /// <summary>The calling thread's deflater with qemu's settings (freed by its finalizer when the thread is gone).</summary>
    public static RawDeflater ForCurrentThread => t_current ??= new RawDeflater();

    /// <summary>
    /// Compresses <paramref name="source"/> into <paramref name="destination"/>; returns the compressed length,
    /// or -1 when the stream does not fit (qemu passes <c>cluster_size - 1</c> bytes and then stores the cluster plainly).
    /// </summary>
    public int Compress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        ThrowIfDisposed();
        ZlibNative.DeflateReset(_stream);
        fixed (byte* src = source)
        fixed (byte* dst = destination)
        {
            _stream->NextIn = src;
            _stream->AvailIn = (uint)source.Length;
            _stream->NextOut = dst;
            _stream->AvailOut = (uint)destination.Length;
            int rc = ZlibNative.Deflate(_stream, ZlibNative.ZFinish);
            int written = destination.Length - (int)_stream->AvailOut;
            _stream->NextIn = null;
            _stream->NextOut = null;
            return rc == ZlibNative.ZStreamEnd ? written : -1;
        }
    }

    protected override void FreeNative()
    {
        if (_stream == null) return;
        ZlibNative.DeflateEnd(_stream);
        NativeMemory.Free(_stream);
        _stream = null;
    }
}
