using System.Runtime.InteropServices;

namespace ImageTool.Codecs;

/// <summary>
/// Raw deflate of one cluster with ISA-L at level 3, matches limited to a 4 KiB window so that qemu's inflater
/// (windowBits -12) reads every stream. Valid for qemu, not byte-identical to it (<see cref="RawDeflater"/> is).
/// Not thread-safe: use one per thread (<see cref="ForCurrentThread"/>).
/// </summary>
internal sealed unsafe class IsalDeflater : NativeCodec
{
    private const int Level = 3;

    [ThreadStatic] private static IsalDeflater? t_current;

    private IsalNative.ZStreamHead* _stream;
    private byte* _levelBuffer;

    private IsalDeflater()
    {
        _stream = (IsalNative.ZStreamHead*)NativeMemory.AllocZeroed(IsalNative.StreamBytes);
        _levelBuffer = (byte*)NativeMemory.Alloc(IsalNative.Level3BufferBytes);
    }

    /// <summary>The calling thread's deflater, or null when libisal2 is not installed.</summary>
    public static IsalDeflater? ForCurrentThread => IsalNative.IsAvailable ? t_current ??= new IsalDeflater() : null;

    /// <summary>
    /// Compresses <paramref name="source"/> into <paramref name="destination"/>; returns the stream length, -1 when it
    /// does not fit, or -2 when ISA-L refused the settings (the caller falls back to zlib).
    /// </summary>
    public int Compress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        ThrowIfDisposed();
        IsalNative.DeflateStatelessInit(_stream);
        fixed (byte* src = source)
        fixed (byte* dst = destination)
        {
            _stream->NextIn = src;
            _stream->AvailIn = (uint)source.Length;
            _stream->NextOut = dst;
            _stream->AvailOut = (uint)destination.Length;
            _stream->Level = Level;
            _stream->LevelBuf = _levelBuffer;
            _stream->LevelBufSize = IsalNative.Level3BufferBytes;
            _stream->HistBits = RawDeflater.QemuWindowBits;
            _stream->EndOfStream = 1;
            _stream->Flush = IsalNative.NoFlush;
            _stream->GzipFlag = IsalNative.RawDeflate;
            int rc = IsalNative.DeflateStateless(_stream);
            int written = (int)_stream->TotalOut;
            _stream->NextIn = null;
            _stream->NextOut = null;
            return rc switch
            {
                IsalNative.CompOk => written,
                IsalNative.StatelessOverflow => -1,
                _ => -2,
            };
        }
    }

    protected override void FreeNative()
    {
        NativeMemory.Free(_stream);
        NativeMemory.Free(_levelBuffer);
        _stream = null;
        _levelBuffer = null;
    }
}
