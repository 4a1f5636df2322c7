using System.CommandLine;
using ImageTool.Operations;
using ImageTool.Options;

namespace ImageTool.Cli.Commands;

internal static class ResizeCommand
{
    public const string Synopsis = "[--object objectdef] [--image-opts] [-f fmt] [--preallocation=prealloc] [-q] [--shrink] filename [+ | -]size";

    /// <summary>qemu takes the size off the end before parsing options, so "-1G" is not an option.</summary>
    public static string[] PrepareArguments(string[] args)
    {
        if (args.Length < 2) throw new UsageException("Not enough arguments");
        return args[..^1].Contains("--") ? args : [.. args[..^1], "--", args[^1]];
    }

    public static Command Build(CliContext context)
    {
        var objects = CommonOptions.Objects();
        var imageOpts = CommonOptions.ImageOpts();
        var format = CommonOptions.Format();
        var preallocation = new Option<string?>("--preallocation") { HelpName = "prealloc", Description = "off, metadata, falloc or full" };
        var quiet = CommonOptions.Quiet();
        var shrink = new Option<bool>("--shrink") { Description = "allow shrinking (data past the new end is lost)" };
        var files = CommonOptions.Files();
        var command = new Command("resize", "change the virtual size of an image") { objects, imageOpts, format, preallocation, quiet, shrink, files };
        command.SetAction(result =>
        {
            string mode = result.GetValue(preallocation) ?? "off";
            if (!ResizeOperation.PreallocationModes.Contains(mode))
                throw new UsageException($"Invalid preallocation mode '{mode}'", showTryHint: false);
            var names = result.GetValue(files) ?? [];
            if (names.Length != 2) throw new UsageException("Expecting image file name and size");
            string text = names[1];
            int sign = text.StartsWith('+') ? 1 : text.StartsWith('-') ? -1 : 0;
            if (sign != 0) text = text[1..];
            if (!SizeParser.TryParse(text, out long value, out _) || text.StartsWith('+') || text.StartsWith('-'))
                throw new UsageException("Parameter 'size' expects a non-negative number below 2^64\n" +
                    "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.", showTryHint: false);
            var (path, options) = CommonOptions.Source(names[0], result.GetValue(format), result.GetValue(imageOpts),
                false, CommonOptions.Secrets(result, objects), context);
            using var image = DiskImage.Open(path, options with { ReadOnly = false });
            long size = ResizeOperation.TargetSize(image.Length, value, sign);
            if (size > 0 && size < image.Length && !result.GetValue(shrink) && mode == "off")
            {
                context.Err.WriteLine($"{Cli.Program}: {ResizeOperation.ShrinkRefused}");
                context.Err.WriteLine($"{Cli.Program}: warning: {ResizeOperation.ShrinkWarning}");
                return 1;
            }
            ResizeOperation.Run(image, size, mode, result.GetValue(shrink));
            if (!result.GetValue(quiet)) context.Out.WriteLine("Image resized.");
            return 0;
        });
        return command;
    }
}
