using System.CommandLine;
using System.Globalization;
using ImageTool.Operations;

namespace ImageTool.Cli.Commands;

internal static class RebaseCommand
{
    public const string Synopsis = "[--object objectdef] [--image-opts] [-U] [-q] [-f fmt] [-t cache] [-T src_cache] [-p] [-u] -b backing_file [-F backing_fmt] filename";

    public static Command Build(CliContext context)
    {
        var objects = CommonOptions.Objects();
        var imageOpts = CommonOptions.ImageOpts();
        var forceShare = CommonOptions.ForceShare();
        var quiet = CommonOptions.Quiet();
        var format = CommonOptions.Format();
        var cache = new Option<string?>("-t") { HelpName = "cache" };
        var sourceCache = new Option<string?>("-T") { HelpName = "src_cache" };
        var progress = new Option<bool>("-p") { Description = "show progress" };
        var unsafeMode = new Option<bool>("-u") { Description = "unsafe: only rewrite the backing file name" };
        var backing = new Option<string?>("-b") { HelpName = "backing_file", Description = "new backing file (\"\" detaches)" };
        var backingFormat = CommonOptions.Format("-F");
        var files = CommonOptions.Files();
        var command = new Command("rebase", "change the backing file of an image")
            { objects, imageOpts, forceShare, quiet, format, cache, sourceCache, progress, unsafeMode, backing, backingFormat, files };
        command.SetAction(result =>
        {
            CommonOptions.CheckCache(result.GetValue(cache), "");
            CommonOptions.CheckCache(result.GetValue(sourceCache), "source cache ");
            var names = result.GetValue(files) ?? [];
            if (names.Length != 1) throw new UsageException("Expecting one image file name");
            bool isUnsafe = result.GetValue(unsafeMode);
            string? newBacking = result.GetValue(backing);
            if (!isUnsafe && newBacking == null) throw new UsageException("Must specify backing file (-b) or use unsafe mode (-u)");
            bool showProgress = result.GetValue(progress) && !result.GetValue(quiet);
            var (path, options) = CommonOptions.Source(names[0], result.GetValue(format), result.GetValue(imageOpts),
                false, CommonOptions.Secrets(result, objects), context);
            try
            {
                RebaseOperation.Run(new RebaseOptions(path, newBacking)
                {
                    Format = options.Format,
                    NewBackingFormat = result.GetValue(backingFormat),
                    Unsafe = isUnsafe,
                    ForceShare = result.GetValue(forceShare),
                    Secrets = options.Secrets,
                    Warning = context.Warn,
                    Progress = showProgress
                        ? new ProgressMeter(p => context.Out.Write(string.Create(CultureInfo.InvariantCulture, $"    ({p:F2}/100%)\r")), minStep: 2)
                        : null,
                });
            }
            finally
            {
                if (showProgress) context.Out.Write("\n");
            }
            return 0;
        });
        return command;
    }
}
