using System.Globalization;
using System.Text;

namespace ImageTool.Formats.Vmdk;

/// <summary>
/// The text descriptor, read and written the way qemu 7.2 does it (block/vmdk.c): values are found by
/// substring search and scanf-like scanning, not by a real parser, and qemu's quirks are kept on purpose.
/// </summary>
internal static class VmdkDescriptor
{
    /// <summary>qemu reads and rewrites 20 sectors of descriptor for CID and parent hint (DESC_SIZE).</summary>
    public const int Size = 20 * 512;

    /// <summary>qemu reads at most 1 MiB - 1 of a descriptor file.</summary>
    public const int MaxFileSize = (1 << 20) - 1;

    public const uint NoParent = 0xFFFFFFFF;

    /// <summary>The bytes as a C string: Latin-1 so every byte maps to one char, cut at the first NUL.</summary>
    public static string Text(ReadOnlySpan<byte> bytes)
    {
        int nul = bytes.IndexOf((byte)0);
        return Encoding.Latin1.GetString(nul < 0 ? bytes : bytes[..nul]);
    }

    /// <summary>qemu's vmdk_read_cid: the hex number after the first "CID" (or "parentCID") plus one character.</summary>
    public static uint? ReadCid(string text, bool parent)
    {
        string key = parent ? "parentCID" : "CID";
        int at = text.IndexOf(key, StringComparison.Ordinal);
        if (at < 0) return null;
        int i = at + key.Length + 1;
        return i <= text.Length && ScanHex(text, ref i) is ulong v ? (uint)v : null;
    }

    /// <summary>The value of parentFileNameHint, or null when there is none; qemu rejects an unterminated one.</summary>
    public static string? ParentFileNameHint(string text)
    {
        const string key = "parentFileNameHint";
        int at = text.IndexOf(key, StringComparison.Ordinal);
        if (at < 0) return null;
        int start = at + key.Length + 2; // skip '="'
        int end = start <= text.Length ? text.IndexOf('"', start) : -1;
        if (end < 0 || end - start > 4095) throw new ImageFormatException("Invalid argument");
        return text[start..end];
    }

    /// <summary>qemu's vmdk_parse_description for createType: the text between '="' and the next '"'.</summary>
    public static string? CreateType(string text)
    {
        const string key = "createType";
        int at = text.IndexOf(key, StringComparison.Ordinal);
        if (at < 0) return null;
        int start = at + key.Length + 2;
        if (start >= text.Length) return null;
        int end = text.IndexOf('"', start);
        if (end < 0 || end - start + 1 > 128) return null;
        return text[start..end];
    }

    /// <summary>
    /// The RW extents qemu opens, in order. Each line is scanned like qemu's sscanf, which skips newlines as
    /// white space: a blank line right above an extent line therefore yields that extent twice (verified).
    /// </summary>
    public static List<VmdkExtentLine> ParseExtents(string text)
    {
        var result = new List<VmdkExtentLine>();
        for (int p = 0; p < text.Length; p = NextLine(text, p))
        {
            int i = p;
            int matches = 0;
            string access = "", type = "", fileName = "";
            long sectors = 0, flatOffset = -1;
            if (ScanWord(text, ref i) is { } a)
            {
                access = a;
                matches++;
                SkipSpace(text, ref i);
                if (ScanInt(text, ref i) is long s)
                {
                    sectors = s;
                    matches++;
                    SkipSpace(text, ref i);
                    if (ScanWord(text, ref i) is { } t)
                    {
                        type = t;
                        matches++;
                        SkipSpace(text, ref i);
                        if (ScanQuoted(text, ref i) is { } f)
                        {
                            fileName = f;
                            matches++;
                            SkipSpace(text, ref i);
                            if (ScanInt(text, ref i) is long o)
                            {
                                flatOffset = o;
                                matches++;
                            }
                        }
                    }
                }
            }
            if (matches < 4 || access != "RW") continue;
            if (type == "FLAT")
            {
                if (matches != 5 || flatOffset < 0) throw InvalidLine(text, p);
            }
            else if (type == "VMFS")
            {
                if (matches != 4) throw InvalidLine(text, p);
                flatOffset = 0;
            }
            else if (matches != 4)
                throw InvalidLine(text, p);
            if (sectors <= 0 || type is not ("FLAT" or "SPARSE" or "VMFS" or "VMFSSPARSE" or "SESPARSE")) continue;
            result.Add(new VmdkExtentLine(sectors, type, fileName, flatOffset));
        }
        return result;
    }

    private static ImageFormatException InvalidLine(string text, int p)
    {
        int end = NextLine(text, p);
        if (end > p && text[end - 1] == '\n') end--;
        return new ImageFormatException($"Invalid extent line: {text[p..end]}");
    }

    private static int NextLine(string text, int p)
    {
        int nl = text.IndexOf('\n', p);
        return nl < 0 ? text.Length : nl + 1;
    }

    private static bool IsSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';

    private static void SkipSpace(string s, ref int i)
    {
        while (i < s.Length && IsSpace(s[i])) i++;
    }

    // %10s
    private static string? ScanWord(string s, ref int i)
    {
        SkipSpace(s, ref i);
        int start = i;
        while (i < s.Length && i - start < 10 && !IsSpace(s[i])) i++;
        return i > start ? s[start..i] : null;
    }

    // %" SCNd64: strtoll rules, saturating on overflow.
    private static long? ScanInt(string s, ref int i)
    {
        SkipSpace(s, ref i);
        int j = i;
        bool negative = false;
        if (j < s.Length && s[j] is '+' or '-') negative = s[j++] == '-';
        int digits = j;
        decimal value = 0;
        while (j < s.Length && char.IsAsciiDigit(s[j]))
        {
            if (value <= long.MaxValue) value = value * 10 + (s[j] - '0');
            j++;
        }
        if (j == digits) return null;
        i = j;
        if (negative) return value > long.MaxValue ? long.MinValue : -(long)value;
        return value > long.MaxValue ? long.MaxValue : (long)value;
    }

    // \"%511[^\n\r\"]\"
    private static string? ScanQuoted(string s, ref int i)
    {
        if (i >= s.Length || s[i] != '"') return null;
        int start = i + 1, j = start;
        while (j < s.Length && j - start < 511 && s[j] is not ('\n' or '\r' or '"')) j++;
        if (j == start) return null;
        string name = s[start..j];
        // The closing quote is only needed for the offset that follows; the name counts either way.
        i = j < s.Length && s[j] == '"' ? j + 1 : s.Length;
        return name;
    }

    // %x: optional sign and 0x, hex digits, value truncated to 32 bits as glibc does.
    private static ulong? ScanHex(string s, ref int i)
    {
        SkipSpace(s, ref i);
        int j = i;
        bool negative = false;
        if (j < s.Length && s[j] is '+' or '-') negative = s[j++] == '-';
        if (j + 1 < s.Length && s[j] == '0' && s[j + 1] is 'x' or 'X' && j + 2 < s.Length && char.IsAsciiHexDigit(s[j + 2])) j += 2;
        int digits = j;
        ulong value = 0;
        bool overflow = false;
        while (j < s.Length && char.IsAsciiHexDigit(s[j]))
        {
            if (value > (ulong.MaxValue >> 4)) overflow = true;
            value = (value << 4) | (uint)HexValue(s[j]);
            j++;
        }
        if (j == digits) return null;
        i = j;
        if (overflow) value = ulong.MaxValue;
        return negative ? unchecked(0 - value) : value;
    }

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    /// <summary>The descriptor text qemu-img create writes (byte for byte, LF line ends).</summary>
    public static string Render(uint cid, uint parentCid, string createType, string? parentHint, IEnumerable<string> extentLines,
        string hwVersion, long cylinders, int heads, string adapterType, string toolsVersion)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("# Disk DescriptorFile\n");
        sb.Append("version=1\n");
        sb.Append(c, $"CID={cid:x}\n");
        sb.Append(c, $"parentCID={parentCid:x}\n");
        sb.Append(c, $"createType=\"{createType}\"\n");
        // qemu prints the hint without its own newline: no blank line before the extents then (verified).
        if (parentHint != null) sb.Append(c, $"parentFileNameHint=\"{parentHint}\"");
        sb.Append('\n');
        sb.Append("# Extent description\n");
        foreach (var line in extentLines) sb.Append(line).Append('\n');
        sb.Append('\n');
        sb.Append("# The Disk Data Base\n");
        sb.Append("#DDB\n");
        sb.Append('\n');
        sb.Append(c, $"ddb.virtualHWVersion = \"{hwVersion}\"\n");
        sb.Append(c, $"ddb.geometry.cylinders = \"{cylinders}\"\n");
        sb.Append(c, $"ddb.geometry.heads = \"{heads}\"\n");
        sb.Append("ddb.geometry.sectors = \"63\"\n");
        sb.Append(c, $"ddb.adapterType = \"{adapterType}\"\n");
        sb.Append(c, $"ddb.toolsVersion = \"{toolsVersion}\"\n");
        return sb.ToString();
    }

    /// <summary>
    /// qemu's vmdk_write_cid on a descriptor buffer of <see cref="Size"/> bytes: after the first "CID=" it
    /// prints the new CID and a newline, then appends everything from "parentCID" on. Returns false when
    /// there is no "parentCID" (qemu fails the write with EINVAL then).
    /// </summary>
    public static bool ReplaceCid(Span<byte> desc, uint cid)
    {
        desc[^1] = 0;
        string text = Text(desc);
        int parent = text.IndexOf("parentCID", StringComparison.Ordinal);
        if (parent < 0) return false;
        int at = text.IndexOf("CID", StringComparison.Ordinal);
        if (at < 0) return true;
        int start = at + 4;
        string tail = text[parent..];
        string updated = text[..Math.Min(start, text.Length)] + cid.ToString("x", CultureInfo.InvariantCulture) + "\n" + tail;
        var bytes = Encoding.Latin1.GetBytes(updated);
        int n = Math.Min(bytes.Length, desc.Length - 1);
        desc.Clear();
        bytes.AsSpan(0, n).CopyTo(desc);
        return true;
    }
}
