using System.Globalization;
using ImageTool.Options;

namespace ImageTool.Protocols.Blkdebug;

/// <summary>
/// blkdebug's rules, from its config file (qemu's ini dialect: <c>[inject-error]</c> / <c>[set-state]</c> groups of
/// <c>key = "value"</c> lines) and from options (<c>inject-error.0.event=...</c>, as a json:{} name lists them).
/// </summary>
internal static class BlkdebugConfig
{
    private static readonly string[] InjectKeys = ["event", "state", "iotype", "errno", "sector", "once", "immediately"];
    private static readonly string[] SetStateKeys = ["event", "state", "new_state"];

    public static List<BlkdebugRule> Read(string? configPath, ImageOptions? options, string prefix)
    {
        var groups = new List<(string Name, Dictionary<string, string> Values)>();
        if (!string.IsNullOrEmpty(configPath)) groups.AddRange(ParseFile(configPath));
        if (options != null) groups.AddRange(FromOptions(options, prefix));
        // qemu adds every inject-error rule before the set-state ones, each at the head of its event's list.
        var rules = new List<BlkdebugRule>();
        foreach (var (name, values) in groups.Where(g => g.Name == "inject-error"))
            rules.Insert(0, InjectRule(values));
        foreach (var (name, values) in groups.Where(g => g.Name == "set-state"))
            rules.Insert(0, SetStateRule(values));
        return rules;
    }

    private static IEnumerable<(string, Dictionary<string, string>)> ParseFile(string path)
    {
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (FileNotFoundException e) { throw new ImageFormatException("Could not read blkdebug config file: No such file or directory", e); }
        catch (DirectoryNotFoundException e) { throw new ImageFormatException("Could not read blkdebug config file: No such file or directory", e); }
        catch (UnauthorizedAccessException e) { throw new ImageFormatException("Could not read blkdebug config file: Permission denied", e); }
        var groups = new List<(string, Dictionary<string, string>)>();
        Dictionary<string, string>? current = null;
        foreach (string raw in lines)
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            if (line[0] == '[')
            {
                int close = line.IndexOf(']');
                string name = close > 1 ? line[1..close].Trim() : "";
                int space = name.IndexOf(' ');
                if (space >= 0) name = name[..space];
                if (name is not ("inject-error" or "set-state")) throw Unparsable();
                current = [];
                groups.Add((name, current));
                continue;
            }
            int eq = line.IndexOf('=');
            if (current == null || eq <= 0) throw Unparsable();
            string key = line[..eq].Trim();
            string value = line[(eq + 1)..].Trim();
            if (value.Length < 2 || value[0] != '"' || value[^1] != '"') throw Unparsable();
            current[key] = value[1..^1];
        }
        return groups;
    }

    private static ImageFormatException Unparsable() => new("Could not parse blkdebug config file");

    private static IEnumerable<(string, Dictionary<string, string>)> FromOptions(ImageOptions options, string prefix)
    {
        foreach (string group in new[] { "inject-error", "set-state" })
        {
            string head = prefix + group + ".";
            var byIndex = new SortedDictionary<int, Dictionary<string, string>>();
            foreach (var (key, value) in options.Values)
            {
                if (!key.StartsWith(head, StringComparison.Ordinal)) continue;
                string rest = key[head.Length..];
                int dot = rest.IndexOf('.');
                if (dot < 0 || !int.TryParse(rest[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out int index)) continue;
                if (!byIndex.TryGetValue(index, out var values)) byIndex[index] = values = [];
                values[rest[(dot + 1)..]] = value;
            }
            foreach (var values in byIndex.Values) yield return (group, values);
        }
    }

    private static BlkdebugRule InjectRule(Dictionary<string, string> values)
    {
        CheckKeys(values, InjectKeys);
        long sector = Number(values, "sector", -1);
        return new BlkdebugRule(Event(values), (int)Number(values, "state", 0))
        {
            Errno = (int)Number(values, "errno", 5),
            Once = Bool(values, "once"),
            Immediately = Bool(values, "immediately"),
            Offset = sector == -1 ? -1 : sector * 512,
            IoTypes = values.TryGetValue("iotype", out string? type) ? IoType(type) : BlkdebugIoType.Default,
        };
    }

    private static BlkdebugRule SetStateRule(Dictionary<string, string> values)
    {
        CheckKeys(values, SetStateKeys);
        return new BlkdebugRule(Event(values), (int)Number(values, "state", 0))
        {
            SetsState = true,
            NewState = (int)Number(values, "new_state", 0),
        };
    }

    private static void CheckKeys(Dictionary<string, string> values, string[] known)
    {
        foreach (string key in values.Keys)
            if (!known.Contains(key)) throw new ImageFormatException($"Invalid parameter '{key}'");
    }

    private static string Event(Dictionary<string, string> values)
    {
        if (!values.TryGetValue("event", out string? name)) throw new ImageFormatException("Missing event name for rule");
        if (!BlkdebugEvent.Names.Contains(name)) throw new ImageFormatException($"Invalid parameter '{name}'");
        return name;
    }

    private static BlkdebugIoType IoType(string name) => name switch
    {
        "read" => BlkdebugIoType.Read,
        "write" => BlkdebugIoType.Write,
        "write-zeroes" => BlkdebugIoType.WriteZeroes,
        "discard" => BlkdebugIoType.Discard,
        "flush" => BlkdebugIoType.Flush,
        "block-status" => BlkdebugIoType.BlockStatus,
        _ => throw new ImageFormatException($"Invalid parameter '{name}'"),
    };

    private static long Number(Dictionary<string, string> values, string key, long fallback)
    {
        if (!values.TryGetValue(key, out string? text)) return fallback;
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n)) return n;
        throw new ImageFormatException($"Parameter '{key}' expects a number");
    }

    private static bool Bool(Dictionary<string, string> values, string key)
    {
        if (!values.TryGetValue(key, out string? text)) return false;
        try { return ImageOptions.ParseBool(key, text); }
        catch (ArgumentException e) { throw new ImageFormatException(e.Message, e); }
    }
}
