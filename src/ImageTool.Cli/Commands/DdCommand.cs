using System.CommandLine;
using ImageTool.Operations;

namespace ImageTool.Cli.Commands;

internal static class DdCommand
{
    public const string Synopsis = "[--image-opts] [-U] [-f fmt] [-O output_fmt] [bs=block_size] [count=blocks] [skip=blocks] if=input of=output";

    public static Command Build(CliContext context)
    {
        var imageOpts = CommonOptions.ImageOpts();
        var forceShare = CommonOptions.ForceShare();
        var format = CommonOptions.Format();
        var outputFormat = CommonOptions.Format("-O");
        var objects = CommonOptions.Objects();
        var operands = new Argument<string[]>("operand") { Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("dd", "copy a range of an image into a new image, dd-style")
            { imageOpts, forceShare, format, outputFormat, objects, operands };
        command.SetAction(result =>
        {
            string? input = null, output = null;
            long blockSize = 512;
            long? count = null, skip = null;
            foreach (var operand in result.GetValue(operands) ?? [])
            {
                int eq = operand.IndexOf('=');
                string key = eq < 0 ? operand : operand[..eq];
                string value = eq < 0 ? "" : operand[(eq + 1)..];
                switch (eq < 0 ? null : key)
                {
                    case "bs": blockSize = CommonOptions.ParseSize(value, "bs", context, min: 1, max: int.MaxValue); break;
                    case "count": count = CommonOptions.ParseSize(value, "count", context); break;
                    case "skip": skip = CommonOptions.ParseSize(value, "skip", context); break;
                    case "if": input = value; break;
                    case "of": output = value; break;
                    default: throw new UsageException($"unrecognized operand {key}", showTryHint: false);
                }
            }
            if (input == null || output == null) throw new UsageException("Must specify both input and output files", showTryHint: false);
            var (path, options) = CommonOptions.Source(input, result.GetValue(format), result.GetValue(imageOpts),
                result.GetValue(forceShare), CommonOptions.Secrets(result, objects), context);
            DdOperation.Run(new DdOptions(path, output, blockSize, count, skip)
            {
                SourceOptions = options,
                OutputFormat = result.GetValue(outputFormat) ?? "raw",
            }, message => context.Err.WriteLine($"{Cli.Program}: {message}"));
            return 0;
        });
        return command;
    }
}
