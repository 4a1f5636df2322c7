using System.CommandLine;

namespace ImageTool.Cli;

/// <summary>
/// GNU getopt_long behaviour in front of System.CommandLine: abbreviated long options (--out=json),
/// bundled and attached short options (-cp, -fqcow2), options after positionals, "--". Unknown options and
/// missing values become qemu-img's messages instead of being bound to a positional argument.
/// </summary>
internal static class ArgNormalizer
{
    public static string[] Normalize(Command command, IReadOnlyList<string> args)
    {
        var shortOptions = new Dictionary<char, Option>();
        var longOptions = new Dictionary<string, Option>(StringComparer.Ordinal);
        foreach (var option in command.Options)
        {
            foreach (var name in option.Aliases.Append(option.Name))
            {
                if (name.StartsWith("--", StringComparison.Ordinal)) longOptions[name[2..]] = option;
                else if (name.Length == 2 && name[0] == '-') shortOptions[name[1]] = option;
            }
        }

        var result = new List<string?>();
        var lastAt = new Dictionary<Option, int>();
        bool positionalOnly = false;
        for (int i = 0; i < args.Count; i++)
        {
            string token = args[i];
            if (positionalOnly || token == "-" || !token.StartsWith('-'))
            {
                result.Add(token);
                continue;
            }
            if (token == "--")
            {
                positionalOnly = true;
                result.Add(token);
                continue;
            }
            if (token.StartsWith("--", StringComparison.Ordinal))
            {
                int eq = token.IndexOf('=');
                string name = eq < 0 ? token[2..] : token[2..eq];
                var option = ResolveLong(longOptions, name) ?? throw new UsageException($"unrecognized option '{token}'");
                AddOption(result, lastAt, option);
                if (TakesValue(option))
                {
                    if (eq >= 0) result.Add(token[(eq + 1)..]);
                    else if (i + 1 < args.Count) result.Add(args[++i]);
                    else throw new UsageException($"missing argument for option '{token}'");
                }
                else if (eq >= 0)
                {
                    throw new UsageException($"unrecognized option '{token}'");
                }
                continue;
            }
            for (int j = 1; j < token.Length; j++)
            {
                if (!shortOptions.TryGetValue(token[j], out var option))
                    throw new UsageException($"unrecognized option '{token}'");
                AddOption(result, lastAt, option);
                if (!TakesValue(option)) continue;
                if (j + 1 < token.Length) result.Add(token[(j + 1)..]);
                else if (i + 1 < args.Count) result.Add(args[++i]);
                else throw new UsageException($"missing argument for option '{token}'");
                break;
            }
        }
        return result.OfType<string>().ToArray();
    }

    /// <summary>
    /// Adds an option's name; a single-valued option given again replaces the earlier one (getopt: the last
    /// one wins, "-f foo -f qcow2" is qcow2), so its earlier name and value are dropped. Flags stay: given twice
    /// they mean the same, except where each one is an action of its own (bitmap --remove --remove).
    /// </summary>
    private static void AddOption(List<string?> result, Dictionary<Option, int> lastAt, Option option)
    {
        bool many = option.ValueType.IsArray || !TakesValue(option);
        if (!many && lastAt.TryGetValue(option, out int at))
        {
            result[at] = null;
            if (TakesValue(option)) result[at + 1] = null;
        }
        lastAt[option] = result.Count;
        result.Add(option.Name);
    }

    private static Option? ResolveLong(Dictionary<string, Option> options, string name)
    {
        if (options.TryGetValue(name, out var exact)) return exact;
        var matches = options.Where(o => o.Key.StartsWith(name, StringComparison.Ordinal)).Select(o => o.Value).Distinct().ToList();
        return name.Length > 0 && matches.Count == 1 ? matches[0] : null;
    }

    private static bool TakesValue(Option option) => option.ValueType != typeof(bool);
}
