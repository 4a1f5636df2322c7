using System.CommandLine;

namespace ImageTool.Cli.Commands;

internal static class CreateCommand
{
    public const string Synopsis = "[--object objectdef] [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]";

    public static Command Build(CliContext context)
    {
        var objects = CommonOptions.Objects();
        var quiet = CommonOptions.Quiet();
        var format = CommonOptions.Format();
        var backing = new Option<string?>("-b") { HelpName = "backing_file", Description = "backing file (relative to the new image)" };
        var backingFormat = CommonOptions.Format("-F");
        var unsafeBacking = new Option<bool>("-u") { Description = "do not open the backing file" };
        var options = CommonOptions.ImageOptions();
        var files = CommonOptions.Files();
        var command = new Command("create", "create a new image") { objects, quiet, format, backing, backingFormat, unsafeBacking, options, files };
        command.SetAction(result =>
        {
            string fmt = result.GetValue(format) ?? "raw";
            var names = result.GetValue(files) ?? [];
            var optionLists = result.GetValue(options);
            if (CommonOptions.IsHelp(optionLists))
            {
                context.Out.Write(CommonOptions.OptionHelp(fmt, withProtocol: names.Length > 0));
                return 0;
            }
            if (names.Length == 0) throw new UsageException("Expecting image file name");
            if (names.Length > 2) throw new UsageException($"Unexpected argument: {names[2]}");
            long? size = names.Length == 2 ? CommonOptions.ParseSize(names[1], "image size", context) : null;
            string path = names[0];
            var imageOptions = CommonOptions.ParseImageOptions(optionLists);
            try
            {
                if (result.GetValue(backing) is { } b) imageOptions.Set("backing_file", b);
                if (result.GetValue(backingFormat) is { } bf) imageOptions.Set("backing_fmt", bf);
                var request = new CreateRequest(path, fmt)
                {
                    Size = size,
                    Options = imageOptions,
                    UnsafeBacking = result.GetValue(unsafeBacking),
                    Secrets = CommonOptions.Secrets(result, objects),
                    // Under the name qemu-img, img is the strict drop-in; as img or kvm-img it runs the tutorial's line.
                    RecordProbedBackingFormat = Cli.Program != "qemu-img",
                    Warning = w => context.Warn($"{Cli.Program}: {w}"),
                };
                bool silent = result.GetValue(quiet);
                DiskImage.Create(request, line =>
                {
                    if (!silent) context.Out.WriteLine(line);
                });
            }
            catch (ImageFormatException e)
            {
                throw e.WithMessage($"{path}: {e.Message}");
            }
            catch (ArgumentException e)
            {
                throw new ImageFormatException($"{path}: {e.Message}", e);
            }
            return 0;
        });
        return command;
    }
}
