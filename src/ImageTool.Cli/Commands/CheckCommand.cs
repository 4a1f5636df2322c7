using System.CommandLine;
using ImageTool.Capabilities;
using ImageTool.Check;
using ImageTool.Operations;

namespace ImageTool.Cli.Commands;

internal static class CheckCommand
{
    public const string Synopsis = "[--object objectdef] [--image-opts] [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-T src_cache] [-U] filename";

    public static Command Build(CliContext context)
    {
        var objects = CommonOptions.Objects();
        var imageOpts = CommonOptions.ImageOpts();
        var quiet = CommonOptions.Quiet();
        var format = CommonOptions.Format();
        var output = CommonOptions.Output();
        var repair = new Option<string?>("-r") { HelpName = "leaks|all", Description = "repair leaks, or everything" };
        var sourceCache = new Option<string?>("-T") { HelpName = "src_cache" };
        var forceShare = CommonOptions.ForceShare();
        var files = CommonOptions.Files();
        var command = new Command("check", "check an image for consistency") { objects, imageOpts, quiet, format, output, repair, sourceCache, forceShare, files };
        command.SetAction(result =>
        {
            bool json = CommonOptions.IsJson(result.GetValue(output));
            var mode = result.GetValue(repair) switch
            {
                null => CheckRepair.None,
                "leaks" => CheckRepair.Leaks,
                "all" => CheckRepair.All,
                var other => throw new UsageException($"Unknown option value for -r (expecting 'leaks' or 'all'): {other}"),
            };
            CommonOptions.CheckCache(result.GetValue(sourceCache), "source cache ");
            var names = result.GetValue(files) ?? [];
            if (names.Length != 1) throw new UsageException("Expecting one image file name");
            bool forceShared = result.GetValue(forceShare);
            if (forceShared && mode != CheckRepair.None)
                throw new UsageException($"Could not open '{names[0]}': force-share=on can only be used with read-only images", showTryHint: false);
            var (path, options) = CommonOptions.Source(names[0], result.GetValue(format), result.GetValue(imageOpts),
                forceShared, CommonOptions.Secrets(result, objects), context);
            using var image = DiskImage.Open(path, options with { ReadOnly = mode == CheckRepair.None, ForRepair = mode != CheckRepair.None, ForCheck = true });
            CheckOperation.Result outcome;
            try
            {
                outcome = CheckOperation.Run(image, mode, context.Err.WriteLine);
            }
            catch (UnsupportedFeatureException e) when (image is not ICheckable || e.Message == CheckOperation.NotSupportedMessage)
            {
                context.Err.WriteLine($"{Cli.Program}: {e.Message}");
                return CheckOperation.ExitNotSupported;
            }
            catch (Exception e) when (e is ImageFormatException or IOException)
            {
                context.Err.WriteLine($"{Cli.Program}: Check failed: {e.Message}");
                return 1;
            }
            if (outcome.Report.CheckErrors > 0 && !json)
            {
                context.Err.WriteLine($"{Cli.Program}: Check failed: Input/output error");
            }
            if (!result.GetValue(quiet) && !(outcome.Report.CheckErrors > 0 && !json))
                context.Out.Write(json ? CheckOperation.Json(outcome, path, image.FormatName) : CheckOperation.Human(outcome));
            return outcome.ExitCode;
        });
        return command;
    }
}
