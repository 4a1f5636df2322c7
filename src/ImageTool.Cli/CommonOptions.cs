using System.CommandLine;
using ImageTool.Options;

namespace ImageTool.Cli;

/// <summary>The options several commands share, spelled as qemu-img spells them, and their parsing.</summary>
internal static class CommonOptions
{
    public static Option<string?> Format(string name = "-f") => new(name) { HelpName = "fmt", Description = "image format (probed when omitted)" };
    public static Option<bool> Quiet() => new("-q") { Description = "quiet: print nothing but errors" };
    public static Option<bool> ForceShare() => new("--force-share", "-U") { Description = "open read-only images without taking shared locks" };
    public static Option<string[]> Objects() => new("--object") { HelpName = "objectdef", Description = "secret,id=ID,data=...|file=... for encryption keys" };
    public static Option<bool> ImageOpts() => new("--image-opts") { Description = "treat the file name as an option string (driver=...,file.filename=...)" };
    public static Option<string?> Output() => new("--output") { HelpName = "ofmt", Description = "human or json" };
    public static Option<string[]> ImageOptions() => new("-o") { HelpName = "options", Description = "format options, comma separated name=value (-o help lists them)" };
    public static Argument<string[]> Files() => new("filename") { Arity = ArgumentArity.ZeroOrMore };

    public static Dictionary<string, string> Secrets(ParseResult result, Option<string[]> objects)
    {
        var secrets = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var definition in result.GetValue(objects) ?? [])
            SecretObjects.Add(secrets, definition);
        return secrets;
    }

    /// <summary>Read-only open options for a source image from -f, --image-opts, -U and --object.</summary>
    public static (string Path, OpenOptions Options) Source(string filename, string? format, bool imageOpts, bool forceShare,
        IReadOnlyDictionary<string, string> secrets, CliContext context)
    {
        var options = new OpenOptions { Format = format, ForceShare = forceShare, Secrets = secrets, Warning = context.Warn };
        if (!imageOpts) return (filename, options);
        if (format != null) throw new UsageException("--image-opts and --format are mutually exclusive", showTryHint: false);
        var parsed = new ImageOptions().Parse(filename);
        if (forceShare && parsed.GetString("force-share") is "off" or "false" or "no")
            throw new UsageException("--force-share/-U conflicts with image options", showTryHint: false);
        string? network;
        try { network = DiskImage.NetworkName(parsed); }
        catch (ImageFormatException e) { throw new ImageFormatException($"Could not open '{filename}': {e.Message}", e); }
        string path = network ?? DiskImage.ImageOptsFileName(parsed, filename)
            ?? throw new UsageException("A block device must be specified for \"file\"", showTryHint: false);
        return (path, options with { Format = parsed.GetString("driver"), DriverOptions = parsed, DisplayName = filename });
    }

    /// <summary>
    /// Joins every -o occurrence as qemu-img does (comma-joined, so "-o a=x, -o b" is one list), refusing a list
    /// that is empty, starts with a comma or ends in an odd run of commas ("Invalid option list: ...").
    /// </summary>
    public static string? AccumulateOptions(IEnumerable<string>? lists)
    {
        string? joined = null;
        foreach (var list in lists ?? [])
        {
            int trailing = list.Length - list.TrimEnd(',').Length;
            if (list.Length == 0 || list[0] == ',' || trailing % 2 != 0)
                throw new UsageException($"Invalid option list: {list}", showTryHint: false);
            joined = joined == null ? list : $"{joined},{list}";
        }
        return joined;
    }

    /// <summary>The -o options, joined and parsed (last duplicate wins).</summary>
    public static ImageOptions ParseImageOptions(IEnumerable<string>? lists)
    {
        var options = new ImageOptions();
        if (AccumulateOptions(lists) is { } joined) options.Parse(joined);
        return options;
    }

    /// <summary>Whether the -o options ask for help: a bare "help" or "?" item (",," escapes a comma inside a value).</summary>
    public static bool IsHelp(IEnumerable<string>? lists) =>
        AccumulateOptions(lists) is { } joined && Items(joined).Any(item => item is "help" or "?");

    private static IEnumerable<string> Items(string list)
    {
        var item = new System.Text.StringBuilder();
        for (int i = 0; i < list.Length; i++)
        {
            if (list[i] != ',') item.Append(list[i]);
            else if (i + 1 < list.Length && list[i + 1] == ',') item.Append(list[++i]);
            else
            {
                yield return item.ToString();
                item.Clear();
            }
        }
        yield return item.ToString();
    }

    /// <summary>
    /// -l of convert and measure, checked where qemu-img parses it (with the other options): a "snapshot." list may
    /// name only snapshot.id and snapshot.name.
    /// </summary>
    public static void CheckSnapshotParam(string? param)
    {
        if (param == null || !param.StartsWith("snapshot.", StringComparison.Ordinal)) return;
        foreach (var item in Items(param))
        {
            if (item.Length == 0) continue;
            string key = item.Split('=', 2)[0];
            if (key is not ("snapshot.id" or "snapshot.name"))
                throw new UsageException($"Invalid parameter '{key}'\n{Cli.Program}: Failed in parsing snapshot param '{param}'", showTryHint: false);
        }
    }

    public static bool IsJson(string? output) => output switch
    {
        null or "human" => false,
        "json" => true,
        _ => throw new UsageException("--output must be used with human or json as argument.", showTryHint: false),
    };

    /// <summary>A size argument with qemu's messages; <paramref name="noun"/> names it ("image size", "skip", ...).</summary>
    public static long ParseSize(string text, string noun, CliContext context, long max = long.MaxValue, long min = 0)
    {
        if (SizeParser.TryParse(text, out long value, out var error, out bool hexWithSuffix) && value <= max && value >= min)
        {
            if (hexWithSuffix) context.Warn($"{Cli.Program}: warning: Using a multiplier suffix on hex numbers is deprecated: {text}");
            return value;
        }
        if (error == SizeParser.Error.Invalid)
            throw new UsageException($"Invalid {noun} specified. You may use k, M, G, T, P or E suffixes for\n" +
                $"{Cli.Program}: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.", showTryHint: false);
        throw new UsageException($"Invalid {noun} specified. Must be between {min} and {max}.", showTryHint: false);
    }

    /// <summary>qemu's cache mode names; null when not given.</summary>
    public static CacheMode? CheckCache(string? mode, string what) => mode switch
    {
        null => null,
        "none" => CacheMode.None,
        "writeback" => CacheMode.Writeback,
        "writethrough" => CacheMode.Writethrough,
        "directsync" => CacheMode.DirectSync,
        "unsafe" => CacheMode.Unsafe,
        _ => throw new UsageException($"Invalid {what}option: {mode}", showTryHint: false),
    };

    /// <summary>qemu's "-o help" listing for a format; with a file name the file protocol's options are merged in.</summary>
    public static string OptionHelp(string formatName, bool withProtocol)
    {
        var format = DiskImage.FindFormat(formatName)
            ?? throw new UsageException($"Unknown file format '{formatName}'", showTryHint: false);
        if (format.CreateOptions.Count == 0)
            throw new ImageFormatException($"Format driver '{format.Name}' does not support image creation");
        var sb = new System.Text.StringBuilder();
        if (withProtocol)
        {
            var merged = format.CreateOptions.ToList();
            foreach (var p in FileProtocolOptions.All.Append(FileProtocolOptions.Size))
                if (merged.All(o => o.Name != p.Name)) merged.Add(p);
            sb.Append("Supported options:\n");
            foreach (var line in Options.ImageOptions.HelpLines(merged)) sb.Append(line).Append('\n');
            return sb.ToString();
        }
        sb.Append($"Supported {format.Name} options:\n");
        foreach (var line in Options.ImageOptions.HelpLines(format.CreateOptions.Where(o => !o.Protocol).ToList()))
            sb.Append(line).Append('\n');
        sb.Append("\nThe protocol level may support further options.\nSpecify the target filename to include those options.\n");
        return sb.ToString();
    }
}
