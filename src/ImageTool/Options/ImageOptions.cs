using System.Text;

namespace ImageTool.Options;

/// <summary>
/// Parsed <c>key=value</c> options as qemu takes them: comma separated, <c>,,</c> for a literal comma,
/// the last duplicate wins.
/// </summary>
public sealed class ImageOptions
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    // Options a json: name gave as JSON numbers or booleans; qemu keeps their type and prints them unquoted.
    private readonly HashSet<string> _literals = new(StringComparer.Ordinal);

    /// <summary>The options by name (the last of duplicates).</summary>
    public IReadOnlyDictionary<string, string> Values => _values;

    /// <summary>Whether an option is set.</summary>
    /// <param name="name">The option's name.</param>
    /// <returns>True when it is set.</returns>
    public bool Contains(string name) => _values.ContainsKey(name);

    /// <summary>Sets (or replaces) an option.</summary>
    /// <param name="name">The option's name.</param>
    /// <param name="value">Its value, unparsed.</param>
    /// <returns>This set, for chaining.</returns>
    public ImageOptions Set(string name, string value)
    {
        _values[name] = value;
        _literals.Remove(name);
        return this;
    }

    /// <summary>Sets an option given as a JSON number or boolean (a <c>json:</c> name's <c>"offset": 512</c>).</summary>
    internal void SetLiteral(string name, string value)
    {
        _values[name] = value;
        _literals.Add(name);
    }

    /// <summary>Whether the option was given as a JSON number or boolean rather than as a string.</summary>
    internal bool IsLiteral(string name) => _literals.Contains(name);

    /// <summary>Removes an option if it is set.</summary>
    /// <param name="name">The option's name.</param>
    /// <returns>This set, for chaining.</returns>
    public ImageOptions Remove(string name)
    {
        _values.Remove(name);
        _literals.Remove(name);
        return this;
    }

    /// <summary>Parses one option list (e.g. <c>cluster_size=4k,lazy_refcounts=on</c>) into this set.</summary>
    /// <param name="list">The list.</param>
    /// <param name="implicitKey">Key for a bare first word (qemu's "driver" or "file" shorthand), or null.</param>
    public ImageOptions Parse(string list, string? implicitKey = null)
    {
        if (list.Length == 0 || list[0] == ',')
            throw new ArgumentException($"Invalid option list: {list}");
        int i = 0;
        bool first = true;
        while (i <= list.Length)
        {
            string item = ReadItem(list, ref i);
            int eq = item.IndexOf('=');
            if (eq < 0)
            {
                if (first && implicitKey != null) Set(implicitKey, item);
                else if (item.Length == 0) throw new ArgumentException($"Invalid option list: {list}");
                else Set(item, "on"); // qemu: a bare name is a boolean flag
            }
            else
            {
                Set(item[..eq], item[(eq + 1)..]);
            }
            first = false;
            if (i >= list.Length) break;
        }
        return this;
    }

    private static string ReadItem(string list, ref int i)
    {
        var sb = new StringBuilder();
        while (i < list.Length)
        {
            char c = list[i];
            if (c == ',')
            {
                if (i + 1 < list.Length && list[i + 1] == ',')
                {
                    sb.Append(',');
                    i += 2;
                    continue;
                }
                i++;
                return sb.ToString();
            }
            sb.Append(c);
            i++;
        }
        i++;
        return sb.ToString();
    }

    /// <summary>An option's value as given.</summary>
    /// <param name="name">The option's name.</param>
    /// <returns>The value, or null when not set.</returns>
    public string? GetString(string name) => _values.TryGetValue(name, out var v) ? v : null;

    /// <summary>An on/off option (qemu's on, off, true, false, yes, no).</summary>
    /// <param name="name">The option's name.</param>
    /// <returns>The value, or null when not set.</returns>
    public bool? GetBool(string name)
    {
        if (!_values.TryGetValue(name, out var v)) return null;
        return ParseBool(name, v);
    }

    /// <summary>A size option with qemu's suffixes (k, M, G, T, P, E; 1024-based).</summary>
    /// <param name="name">The option's name.</param>
    /// <returns>Bytes, or null when not set.</returns>
    public long? GetSize(string name)
    {
        if (!_values.TryGetValue(name, out var v)) return null;
        return ParseSizeValue(name, v);
    }

    /// <summary>A number option (decimal, 0x hex or 0 octal).</summary>
    /// <param name="name">The option's name.</param>
    /// <returns>The value, or null when not set.</returns>
    public long? GetNumber(string name)
    {
        if (!_values.TryGetValue(name, out var v)) return null;
        if (!TryParseNumber(v.Trim(), out ulong n, out bool overflow))
            throw new ArgumentException(overflow ? $"Value '{v}' is too large for parameter '{name}'" : $"Parameter '{name}' expects a number");
        return unchecked((long)n);
    }

    /// <summary>qemu_strtou64 with base 0: decimal, 0x hex or 0 octal; a leading minus wraps around as in strtoull.</summary>
    private static bool TryParseNumber(string s, out ulong n, out bool overflow)
    {
        n = 0;
        overflow = false;
        bool negative = s.StartsWith('-');
        if (negative || s.StartsWith('+')) s = s[1..];
        int radix = 10;
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) (radix, s) = (16, s[2..]);
        else if (s.Length > 1 && s[0] == '0') (radix, s) = (8, s[1..]);
        if (s.Length == 0) return false;
        foreach (char c in s)
        {
            int digit = c is >= '0' and <= '9' ? c - '0' : c is >= 'a' and <= 'f' ? c - 'a' + 10 : c is >= 'A' and <= 'F' ? c - 'A' + 10 : 99;
            if (digit >= radix) return false;
            if (n > (ulong.MaxValue - (ulong)digit) / (ulong)radix) overflow = true;
            n = unchecked(n * (ulong)radix + (ulong)digit);
        }
        if (negative) n = unchecked(0 - n);
        return !overflow;
    }

    /// <summary>Parses an on/off value as qemu does; anything else throws <see cref="ArgumentException"/> naming the option.</summary>
    /// <param name="name">The option's name, for the message.</param>
    /// <param name="value">The value.</param>
    /// <returns>The boolean.</returns>
    internal static bool ParseBool(string name, string value) => value switch
    {
        "on" or "yes" or "true" => true,
        "off" or "no" or "false" => false,
        _ => throw new ArgumentException($"Parameter '{name}' expects 'on' or 'off'"),
    };

    internal static long ParseSizeValue(string name, string value)
    {
        if (!SizeParser.TryParse(value, out long n, out _))
            throw new ArgumentException(
                $"Parameter '{name}' expects a non-negative number below 2^64\n" +
                "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n" +
                "and exabytes, respectively.");
        return n;
    }

    /// <summary>Checks every option against the schema: unknown names and badly typed values.</summary>
    internal void Validate(IReadOnlyList<OptionSpec> schema)
    {
        foreach (var (name, value) in _values)
        {
            var spec = schema.FirstOrDefault(s => s.Name == name)
                ?? throw new ArgumentException($"Invalid parameter '{name}'");
            switch (spec.Type)
            {
                case OptionType.Bool: ParseBool(name, value); break;
                case OptionType.Size: ParseSizeValue(name, value); break;
                case OptionType.Number: GetNumber(name); break;
            }
        }
    }

    /// <summary>
    /// The option part of qemu's "Formatting" line: schema order, defaults included, sizes and numbers as
    /// integers, strings and bools as typed, commas doubled.
    /// </summary>
    internal string FormatForDisplay(IReadOnlyList<OptionSpec> schema)
    {
        var parts = new List<string>();
        foreach (var spec in schema)
        {
            string? value = GetString(spec.Name);
            if (value != null && spec.Type is OptionType.Size) value = ParseSizeValue(spec.Name, value).ToString(System.Globalization.CultureInfo.InvariantCulture);
            value ??= spec.Default;
            if (value != null) parts.Add($"{spec.Name}={value.Replace(",", ",,", StringComparison.Ordinal)}");
        }
        return string.Join(' ', parts);
    }

    /// <summary>The lines of <c>-o help</c>: sorted by name, "  name=&lt;type&gt;  - help".</summary>
    internal static IEnumerable<string> HelpLines(IReadOnlyList<OptionSpec> schema)
    {
        foreach (var spec in schema.OrderBy(s => s.Name, StringComparer.Ordinal))
        {
            string type = spec.Type switch
            {
                OptionType.Bool => "bool (on/off)",
                OptionType.Number => "num",
                OptionType.Size => "size",
                _ => "str",
            };
            string head = $"  {spec.Name}=<{type}>";
            yield return spec.Help.Length == 0 ? head : $"{head.PadRight(24)} - {spec.Help}";
        }
    }
}
