using System.CommandLine;
using ImageTool.Operations;

namespace ImageTool.Cli.Commands;

internal static class MapCommand
{
    public const string Synopsis = "[--object objectdef] [--image-opts] [-f fmt] [--start-offset=offset] [--max-length=len] [--output=ofmt] [-U] filename";

    public static Command Build(CliContext context)
    {
        var objects = CommonOptions.Objects();
        var imageOpts = CommonOptions.ImageOpts();
        var format = CommonOptions.Format();
        var startOffset = new Option<string?>("--start-offset") { HelpName = "offset", Description = "first byte to map" };
        var maxLength = new Option<string?>("--max-length") { HelpName = "len", Description = "bytes to map" };
        var output = CommonOptions.Output();
        var forceShare = CommonOptions.ForceShare();
        var files = CommonOptions.Files();
        var command = new Command("map", "show the allocation of an image and its backing chain")
            { objects, imageOpts, format, startOffset, maxLength, output, forceShare, files };
        command.SetAction(result =>
        {
            long start = result.GetValue(startOffset) is { } s ? CommonOptions.ParseSize(s, "start offset", context) : 0;
            long? length = result.GetValue(maxLength) is { } l ? CommonOptions.ParseSize(l, "max length", context) : null;
            var names = result.GetValue(files) ?? [];
            if (names.Length != 1) throw new UsageException("Expecting one image file name");
            bool json = CommonOptions.IsJson(result.GetValue(output));
            var (path, options) = CommonOptions.Source(names[0], result.GetValue(format), result.GetValue(imageOpts),
                result.GetValue(forceShare), CommonOptions.Secrets(result, objects), context);
            using var image = DiskImage.Open(path, options);
            MapOperation.Write(image, context.Out, json, start, length);
            return 0;
        });
        return command;
    }
}
