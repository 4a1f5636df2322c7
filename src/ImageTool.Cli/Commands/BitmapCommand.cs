using System.CommandLine;
using System.CommandLine.Parsing;
using ImageTool.Operations;

namespace ImageTool.Cli.Commands;

internal static class BitmapCommand
{
    public const string Synopsis = "(--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b source_file [-F source_fmt]] [-g granularity] [--object objectdef] [--image-opts | -f fmt] filename bitmap";

    private static readonly Dictionary<string, BitmapAction> Actions = new(StringComparer.Ordinal)
    {
        ["--add"] = BitmapAction.Add,
        ["--remove"] = BitmapAction.Remove,
        ["--clear"] = BitmapAction.Clear,
        ["--enable"] = BitmapAction.Enable,
        ["--disable"] = BitmapAction.Disable,
        ["--merge"] = BitmapAction.Merge,
    };

    public static Command Build(CliContext context)
    {
        var objects = CommonOptions.Objects();
        var imageOpts = CommonOptions.ImageOpts();
        var format = CommonOptions.Format();
        var flags = Actions.Keys.Where(k => k != "--merge").Select(k => new Option<bool>(k) { Description = $"{k[2..]} the bitmap" }).ToList();
        var merge = new Option<string[]>("--merge") { HelpName = "SOURCE", Description = "merge the bitmap SOURCE into the bitmap" };
        var granularity = new Option<string?>("-g", "--granularity") { HelpName = "granularity", Description = "granularity of a new bitmap" };
        var sourceFile = new Option<string?>("-b") { HelpName = "source_file", Description = "image holding the --merge sources" };
        var sourceFormat = new Option<string?>("-F") { HelpName = "source_fmt" };
        var files = CommonOptions.Files();
        var command = new Command("bitmap", "add, remove, clear, enable, disable or merge persistent dirty bitmaps")
            { objects, imageOpts, format, merge, granularity, sourceFile, sourceFormat, files };
        foreach (var flag in flags) command.Options.Add(flag);
        command.SetAction(result =>
        {
            long g = result.GetValue(granularity) is { } text ? CommonOptions.ParseSize(text, "granularity", context) : 0;
            var steps = Steps(result);
            if (steps.Count == 0) throw new UsageException("Need at least one of --add, --remove, --clear, --enable, --disable, or --merge", showTryHint: false);
            if (g != 0 && !steps.Any(s => s.Action == BitmapAction.Add)) throw new UsageException("granularity only supported with --add", showTryHint: false);
            string? source = result.GetValue(sourceFile);
            if (result.GetValue(sourceFormat) != null && source == null) throw new UsageException("-F only supported with -b", showTryHint: false);
            if (source != null && !steps.Any(s => s.Action == BitmapAction.Merge))
                throw new UsageException("Merge bitmap source file only supported with --merge", showTryHint: false);
            var names = result.GetValue(files) ?? [];
            if (names.Length != 2) throw new UsageException("Expecting filename and bitmap name", showTryHint: false);
            var (path, open) = CommonOptions.Source(names[0], result.GetValue(format), result.GetValue(imageOpts), false,
                CommonOptions.Secrets(result, objects), context);
            BitmapOperation.Run(path, names[1], steps, new BitmapOptions
            {
                Open = open,
                Granularity = g == 0 ? null : g,
                SourceFile = source,
                SourceFormat = result.GetValue(sourceFormat),
            });
            return 0;
        });
        return command;
    }

    /// <summary>The actions in the order they were given (qemu runs them in that order).</summary>
    private static List<BitmapStep> Steps(ParseResult result)
    {
        var steps = new List<BitmapStep>();
        var tokens = result.Tokens;
        for (int i = 0; i < tokens.Count; i++)
        {
            if (tokens[i].Type != TokenType.Option || !Actions.TryGetValue(tokens[i].Value, out var action)) continue;
            string? source = action == BitmapAction.Merge && i + 1 < tokens.Count ? tokens[++i].Value : null;
            steps.Add(new BitmapStep(action, source));
        }
        return steps;
    }
}
