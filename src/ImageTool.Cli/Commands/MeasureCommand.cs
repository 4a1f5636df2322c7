using System.CommandLine;
using ImageTool.Operations;

namespace ImageTool.Cli.Commands;

internal static class MeasureCommand
{
    public const string Synopsis = "[--output=ofmt] [-O output_fmt] [-o options] [--size N | [--object objectdef] [--image-opts] [-f fmt] [-l snapshot_param] filename]";

    public static Command Build(CliContext context)
    {
        var output = CommonOptions.Output();
        var outputFormat = CommonOptions.Format("-O");
        var options = CommonOptions.ImageOptions();
        var size = new Option<string?>("--size") { HelpName = "N", Description = "measure a new image of this size" };
        var objects = CommonOptions.Objects();
        var imageOpts = CommonOptions.ImageOpts();
        var format = CommonOptions.Format();
        var snapshot = new Option<string?>("-l") { HelpName = "snapshot_param" };
        var forceShare = CommonOptions.ForceShare();
        var files = CommonOptions.Files();
        var command = new Command("measure", "compute the size of an image converted to a format")
            { output, outputFormat, options, size, objects, imageOpts, format, snapshot, forceShare, files };
        command.SetAction(result =>
        {
            CommonOptions.AccumulateOptions(result.GetValue(options));
            CommonOptions.CheckSnapshotParam(result.GetValue(snapshot));
            bool json = CommonOptions.IsJson(result.GetValue(output));
            long? bytes = result.GetValue(size) is { } s ? CommonOptions.ParseSize(s, "image size", context) : null;
            var names = result.GetValue(files) ?? [];
            if (names.Length > 1) throw new UsageException("At most one filename argument is allowed.", showTryHint: false);
            string? filename = names.Length == 1 ? names[0] : null;
            if (filename == null && (result.GetValue(imageOpts) || result.GetValue(format) != null || result.GetValue(snapshot) != null))
                throw new UsageException("--image-opts, -f, and -l require a filename argument.", showTryHint: false);
            if (filename != null && bytes != null)
                throw new UsageException("--size N cannot be used together with a filename.", showTryHint: false);
            if (filename == null && bytes == null)
                throw new UsageException("Either --size N or one filename must be specified.", showTryHint: false);
            IImage? source = null;
            try
            {
                if (filename != null)
                {
                    var (path, openOptions) = CommonOptions.Source(filename, result.GetValue(format), result.GetValue(imageOpts),
                        result.GetValue(forceShare), CommonOptions.Secrets(result, objects), context);
                    source = DiskImage.Open(path, openOptions);
                    if (result.GetValue(snapshot) is { } snapshotParam) SnapshotOperation.LoadForReading(source, snapshotParam);
                }
                string target = result.GetValue(outputFormat) ?? "raw";
                MeasureResult measured;
                try
                {
                    measured = MeasureOperation.Measure(target, CommonOptions.ParseImageOptions(result.GetValue(options)), bytes, source);
                }
                catch (ArgumentException e)
                {
                    throw new UsageException($"{e.Message}\n{Cli.Program}: Invalid options for file format '{target}'", showTryHint: false);
                }
                context.Out.Write(json ? MeasureOperation.Json(measured) : MeasureOperation.Human(measured));
                return 0;
            }
            finally
            {
                source?.Dispose();
            }
        });
        return command;
    }
}
