using System.CommandLine;
using ImageTool.Info;
using ImageTool.Operations;

namespace ImageTool.Cli.Commands;

internal static class InfoCommand
{
    public const string Synopsis = "[--object objectdef] [--image-opts] [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename";

    public static Command Build(CliContext context)
    {
        var objects = CommonOptions.Objects();
        var imageOpts = CommonOptions.ImageOpts();
        var format = CommonOptions.Format();
        var output = CommonOptions.Output();
        var chain = new Option<bool>("--backing-chain") { Description = "show every image of the backing chain" };
        var forceShare = CommonOptions.ForceShare();
        var files = CommonOptions.Files();
        var command = new Command("info", "show information about an image") { objects, imageOpts, format, output, chain, forceShare, files };
        command.SetAction(result =>
        {
            bool json = CommonOptions.IsJson(result.GetValue(output));
            var names = result.GetValue(files) ?? [];
            if (names.Length != 1) throw new UsageException("Expecting one image file name");
            var (path, options) = CommonOptions.Source(names[0], result.GetValue(format), result.GetValue(imageOpts),
                result.GetValue(forceShare), CommonOptions.Secrets(result, objects), context);
            bool backingChain = result.GetValue(chain);
            var infos = InfoOperation.Collect(path, options, backingChain);
            context.Out.Write(json ? ImageInfoFormatter.Json(infos, backingChain) : ImageInfoFormatter.Human(infos));
            return 0;
        });
        return command;
    }
}
