using System.CommandLine;
using System.Globalization;
using ImageTool.Operations;

namespace ImageTool.Cli.Commands;

internal static class CommitCommand
{
    public const string Synopsis = "[--object objectdef] [--image-opts] [-q] [-f fmt] [-t cache] [-b base] [-r rate_limit] [-d] [-p] filename";

    public static Command Build(CliContext context)
    {
        var objects = CommonOptions.Objects();
        var imageOpts = CommonOptions.ImageOpts();
        var quiet = CommonOptions.Quiet();
        var format = CommonOptions.Format();
        var cache = new Option<string?>("-t") { HelpName = "cache" };
        var baseImage = new Option<string?>("-b") { HelpName = "base", Description = "image of the backing chain to commit into" };
        var rate = new Option<string?>("-r") { HelpName = "rate_limit" };
        var drop = new Option<bool>("-d") { Description = "keep the top image's data" };
        var progress = new Option<bool>("-p") { Description = "show progress" };
        var files = CommonOptions.Files();
        var command = new Command("commit", "commit an image into its backing file") { objects, imageOpts, quiet, format, cache, baseImage, rate, drop, progress, files };
        command.SetAction(result =>
        {
            CommonOptions.CheckCache(result.GetValue(cache), "cache ");
            if (result.GetValue(rate) is { } r) CommonOptions.ParseSize(r, "rate limit", context);
            var names = result.GetValue(files) ?? [];
            if (names.Length != 1) throw new UsageException("Expecting one image file name");
            var (path, open) = CommonOptions.Source(names[0], result.GetValue(format), result.GetValue(imageOpts), false,
                CommonOptions.Secrets(result, objects), context);
            bool quietMode = result.GetValue(quiet);
            bool showProgress = result.GetValue(progress) && !quietMode;
            CommitOperation.Run(path, new CommitOptions
            {
                Format = open.Format,
                Base = result.GetValue(baseImage),
                Drop = result.GetValue(drop),
                Secrets = open.Secrets,
                Warning = context.Warn,
                Progress = showProgress ? new ProgressMeter(p => context.Out.Write(string.Create(CultureInfo.InvariantCulture, $"    ({p:F2}/100%)\r"))) : null,
            });
            if (showProgress) context.Out.Write("\n");
            if (!quietMode) context.Out.WriteLine("Image committed.");
            return 0;
        });
        return command;
    }
}
