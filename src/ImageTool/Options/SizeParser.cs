using System.Globalization;

namespace ImageTool.Options;

/// <summary>qemu's size syntax (qemu_strtosz): decimal or 0x hex, optional fraction with a suffix, one of b k M G T P E.</summary>
internal static class SizeParser
{
    public enum Error { None, Invalid, OutOfRange }

    public static bool TryParse(string text, out long value, out Error error) =>
        TryParse(text, out value, out error, out _);

    /// <param name="text">The size as typed.</param>
    /// <param name="value">Bytes.</param>
    /// <param name="error">Why it failed.</param>
    /// <param name="hexWithSuffix">qemu warns that a suffix on a hex number is deprecated.</param>
    public static bool TryParse(string text, out long value, out Error error, out bool hexWithSuffix)
    {
        value = 0;
        hexWithSuffix = false;
        error = Error.Invalid;
        int i = 0;
        while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
        if (i < text.Length && text[i] == '+') i++;
        int start = i;
        bool hex = false;
        ulong whole = 0;
        bool overflow = false;
        if (i + 1 < text.Length && text[i] == '0' && (text[i + 1] == 'x' || text[i + 1] == 'X'))
        {
            hex = true;
            i += 2;
            int hexStart = i;
            while (i < text.Length && Uri.IsHexDigit(text[i]))
            {
                overflow |= whole > (ulong.MaxValue >> 4);
                whole = (whole << 4) | (uint)Convert.ToInt32(text[i].ToString(), 16);
                i++;
            }
            if (i == hexStart) return false;
        }
        else
        {
            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                ulong next = whole * 10 + (ulong)(text[i] - '0');
                overflow |= whole > ulong.MaxValue / 10 || next < whole * 10;
                whole = next;
                i++;
            }
            if (i == start) return false;
        }

        double fraction = 0;
        bool hasFraction = false;
        if (i < text.Length && text[i] == '.')
        {
            if (hex) return false;
            hasFraction = true;
            int fracStart = ++i;
            while (i < text.Length && char.IsAsciiDigit(text[i])) i++;
            if (i > fracStart)
                fraction = double.Parse("0." + text[fracStart..i], CultureInfo.InvariantCulture);
        }

        ulong multiplier = 1;
        bool hasSuffix = false;
        if (i < text.Length)
        {
            multiplier = char.ToLowerInvariant(text[i]) switch
            {
                'b' => 1UL,
                'k' => 1UL << 10,
                'm' => 1UL << 20,
                'g' => 1UL << 30,
                't' => 1UL << 40,
                'p' => 1UL << 50,
                'e' => 1UL << 60,
                _ => 0,
            };
            if (multiplier == 0) return false;
            hasSuffix = true;
            i++;
        }
        if (i != text.Length) return false;
        // A non-zero fraction needs a suffix that multiplies ("1.5" and "1.5b" are refused, "1024.0b" is
        // 1024, as in qemu).
        if (hasFraction && fraction != 0 && multiplier == 1) return false;
        hexWithSuffix = hex && hasSuffix;

        error = Error.OutOfRange;
        if (overflow) return false;
        decimal total = (decimal)whole * multiplier + (decimal)(fraction * multiplier);
        total = decimal.Truncate(total);
        if (total > long.MaxValue) return false;
        value = (long)total;
        error = Error.None;
        return true;
    }
}
