using System.Text;

namespace ImageTool.Formats;

/// <summary>Names stored in headers are read as qemu reads them: as C strings, ending at the first NUL byte.</summary>
internal static class CString
{
    public static string Decode(ReadOnlySpan<byte> bytes)
    {
        int end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]);
    }

    /// <summary><see cref="Decode"/>, null for an empty name (qemu then has no such file).</summary>
    public static string? DecodeName(ReadOnlySpan<byte> bytes) => Decode(bytes) is { Length: > 0 } name ? name : null;
}
