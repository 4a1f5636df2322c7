using System.CommandLine;
using System.Globalization;
using ImageTool.Operations;

namespace ImageTool.Cli.Commands;

internal static class AmendCommand
{
    public const string Synopsis = "[--object objectdef] [--image-opts] [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename";

    public static Command Build(CliContext context)
    {
        var objects = CommonOptions.Objects();
        var imageOpts = CommonOptions.ImageOpts();
        var progress = new Option<bool>("-p") { Description = "show progress" };
        var quiet = CommonOptions.Quiet();
        var format = CommonOptions.Format();
        var cache = new Option<string?>("-t") { HelpName = "cache" };
        var force = new Option<bool>("--force") { Description = "allow risky changes" };
        var options = CommonOptions.ImageOptions();
        var files = CommonOptions.Files();
        var command = new Command("amend", "change format options of an existing image")
            { objects, imageOpts, progress, quiet, format, cache, force, options, files };
        command.SetAction(result =>
        {
            var lists = result.GetValue(options);
            if (lists == null || lists.Length == 0) throw new UsageException("Must specify options (-o)");
            CommonOptions.CheckCache(result.GetValue(cache), "");
            string? fmt = result.GetValue(format);
            if (fmt != null && CommonOptions.IsHelp(lists))
            {
                context.Out.Write(AmendOperation.Help(fmt));
                return 0;
            }
            var names = result.GetValue(files) ?? [];
            if (names.Length != 1) throw new UsageException("Expecting one image file name", showTryHint: false);
            bool showProgress = result.GetValue(progress) && !result.GetValue(quiet);
            try
            {
                var (path, openOptions) = CommonOptions.Source(names[0], fmt, result.GetValue(imageOpts), false,
                    CommonOptions.Secrets(result, objects), context);
                using var image = DiskImage.Open(path, openOptions with { ReadOnly = false });
                if (CommonOptions.IsHelp(lists))
                {
                    context.Out.Write(AmendOperation.Help(image.FormatName));
                    return 0;
                }
                var meter = showProgress
                    ? new ProgressMeter(p => context.Out.Write(string.Create(CultureInfo.InvariantCulture, $"    ({p:F2}/100%)\r")))
                    : null;
                AmendOperation.Run(image, CommonOptions.ParseImageOptions(lists), result.GetValue(force),
                    meter);
            }
            finally
            {
                // qemu-img ends its progress line however amend ends, even when the image did not open.
                if (showProgress) context.Out.Write("\n");
            }
            return 0;
        });
        return command;
    }
}
