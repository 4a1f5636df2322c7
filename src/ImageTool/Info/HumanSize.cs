using System.Globalization;

namespace ImageTool.Info;

/// <summary>qemu's size_to_str (util/cutils.c): a power of 1024 chosen so the value stays below 1000, printed with C "%0.3g".</summary>
internal static class HumanSize
{
    private static readonly string[] Prefixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

    public static string Format(long bytes)
    {
        // floor(log2(val * 1024 / 1000)) / 10 picks the unit: switch up once the integer part would reach 1000.
        double scaled = bytes / (1000.0 / 1024.0);
        int exponent = scaled == 0 ? 0 : Math.ILogB(scaled) + 1;
        int unit = (exponent - 1) / 10;
        double value = bytes / (double)(1L << (unit * 10));
        return $"{FormatG3(value)} {Prefixes[unit]}B";
    }

    /// <summary>C printf "%0.3g": three significant digits, round half to even on the exact value, trailing zeros dropped.</summary>
    public static string FormatG3(double value)
    {
        if (value == 0) return "0";
        decimal d = (decimal)value;
        bool negative = d < 0;
        d = Math.Abs(d);
        int exponent = (int)Math.Floor(Math.Log10((double)d));
        decimal rounded = RoundSignificant(d, exponent);
        if (rounded >= Pow10(exponent + 1)) exponent++;
        string sign = negative ? "-" : "";
        if (exponent < -4 || exponent >= 3)
        {
            decimal mantissa = rounded / Pow10(exponent);
            string m = Trim(mantissa.ToString("F2", CultureInfo.InvariantCulture));
            return $"{sign}{m}e{(exponent < 0 ? '-' : '+')}{Math.Abs(exponent):00}";
        }
        return sign + Trim(rounded.ToString("F" + (2 - exponent), CultureInfo.InvariantCulture));
    }

    private static decimal RoundSignificant(decimal d, int exponent)
    {
        decimal scale = Pow10(2 - exponent);
        return Math.Round(d * scale, MidpointRounding.ToEven) / scale;
    }

    private static decimal Pow10(int n)
    {
        decimal r = 1;
        for (int i = 0; i < Math.Abs(n); i++) r *= 10;
        return n >= 0 ? r : 1 / r;
    }

    private static string Trim(string s) => s.Contains('.', StringComparison.Ordinal) ? s.TrimEnd('0').TrimEnd('.') : s;
}
