using System.Runtime.InteropServices;

namespace ImageTool.Codecs;

/// <summary>
/// bzip2 through the system libbz2 (Debian's libbz2-1.0: dpkg depends on it, so it is always installed), one call per
/// buffer. The BCL has no bzip2; the library is the reference decoder, so nothing to measure against a managed port.
/// </summary>
internal static unsafe partial class Bzip2Native
{
    private const string Library = "libbz2.so.1.0";
    private const int BzOk = 0;

    [LibraryImport(Library, EntryPoint = "BZ2_bzBuffToBuffDecompress")]
    private static partial int Decompress(byte* dest, uint* destLen, byte* source, uint sourceLen, int small, int verbosity);

    /// <summary>Decompresses one whole stream into <paramref name="output"/>; true when it fills it exactly.</summary>
    public static bool TryDecompress(ReadOnlySpan<byte> input, Span<byte> output)
    {
        uint length = (uint)output.Length;
        int rc;
        fixed (byte* o = output)
        fixed (byte* i = input)
            rc = Decompress(o, &length, i, (uint)input.Length, 0, 0);
        return rc == BzOk && length == output.Length;
    }
}
