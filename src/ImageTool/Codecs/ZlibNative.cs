using System.Runtime.InteropServices;

namespace ImageTool.Codecs;

/// <summary>
/// The system zlib (Debian's zlib1g, always installed because dpkg pre-depends on it). Only deflate is used:
/// the BCL deflater cannot set windowBits, and qemu writes raw deflate with a 4 KiB window (LIBS.md §3).
/// </summary>
internal static unsafe partial class ZlibNative
{
    public const int ZOk = 0;
    public const int ZStreamEnd = 1;
    public const int ZFinish = 4;
    public const int ZDeflated = 8;
    public const int ZDefaultStrategy = 0;

    /// <summary>zlib's z_stream on LP64 (112 bytes). Must not move once initialised: zlib keeps a back-pointer.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ZStream
    {
        public byte* NextIn;
        public uint AvailIn;
        public nuint TotalIn;
        public byte* NextOut;
        public uint AvailOut;
        public nuint TotalOut;
        public IntPtr Msg;
        public IntPtr State;
        public IntPtr ZAlloc;
        public IntPtr ZFree;
        public IntPtr Opaque;
        public int DataType;
        public nuint Adler;
        public nuint Reserved;
    }

    private const string Library = "libz.so.1";

    [LibraryImport(Library, EntryPoint = "deflateInit2_", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int DeflateInit2(ZStream* stream, int level, int method, int windowBits, int memLevel, int strategy, string version, int streamSize);

    [LibraryImport(Library, EntryPoint = "deflateReset")]
    public static partial int DeflateReset(ZStream* stream);

    [LibraryImport(Library, EntryPoint = "deflate")]
    public static partial int Deflate(ZStream* stream, int flush);

    [LibraryImport(Library, EntryPoint = "deflateEnd")]
    public static partial int DeflateEnd(ZStream* stream);
}
