using System.CommandLine;
using System.Globalization;
using ImageTool.Operations;

namespace ImageTool.Cli.Commands;

internal static class CompareCommand
{
    public const string Synopsis = "[--object objectdef] [--image-opts] [-f fmt] [-F fmt] [-T src_cache] [-p] [-q] [-s] [-U] filename1 filename2";

    public static Command Build(CliContext context)
    {
        var objects = CommonOptions.Objects();
        var imageOpts = CommonOptions.ImageOpts();
        var format1 = CommonOptions.Format();
        var format2 = CommonOptions.Format("-F");
        var sourceCache = new Option<string?>("-T") { HelpName = "src_cache" };
        var progress = new Option<bool>("-p") { Description = "show progress" };
        var quiet = CommonOptions.Quiet();
        var strict = new Option<bool>("-s") { Description = "strict: sizes and allocation must match too" };
        var forceShare = CommonOptions.ForceShare();
        var files = CommonOptions.Files();
        var command = new Command("compare", "check whether two images have the same content")
            { objects, imageOpts, format1, format2, sourceCache, progress, quiet, strict, forceShare, files };
        command.SetAction(result =>
        {
            var names = result.GetValue(files) ?? [];
            if (names.Length != 2) throw new UsageException("Expecting two image file names");
            CacheMode? cache;
            try
            {
                cache = CommonOptions.CheckCache(result.GetValue(sourceCache), "source cache ");
            }
            catch (UsageException e)
            {
                context.Err.WriteLine($"{Cli.Program}: {e.Message}");
                return CompareOperation.OpenFailed;
            }
            bool quietMode = result.GetValue(quiet);
            bool showProgress = result.GetValue(progress) && !quietMode;
            var secrets = CommonOptions.Secrets(result, objects);
            bool share = result.GetValue(forceShare);
            IImage? first = null, second = null;
            try
            {
                try
                {
                    first = Open(names[0], result.GetValue(format1), result.GetValue(imageOpts), share, secrets, cache, context);
                    second = Open(names[1], result.GetValue(format2), result.GetValue(imageOpts), share, secrets, cache, context);
                }
                catch (ImageFormatException e)
                {
                    context.Err.WriteLine($"{Cli.Program}: {e.Message}");
                    return CompareOperation.OpenFailed;
                }
                var meter = showProgress
                    ? new ProgressMeter(p => context.Out.Write(string.Create(CultureInfo.InvariantCulture, $"    ({p:F2}/100%)\r")), minStep: 2)
                    : null;
                // qemu's results go through stdio: into a pipe or file they arrive at exit, after a read error
                // already written to stderr ("Warning: Image size mismatch!" then follows the error).
                var held = Console.IsOutputRedirected && !showProgress ? new List<string>() : null;
                void Print(string line)
                {
                    if (quietMode) return;
                    if (held != null) held.Add(line);
                    else context.Out.WriteLine(line);
                }
                int exit;
                try
                {
                    exit = CompareOperation.Run(first, second, names[0], names[1], result.GetValue(strict), Print, meter);
                }
                catch (CompareException e)
                {
                    context.Err.WriteLine($"{Cli.Program}: {e.Message}");
                    exit = e.ExitCode;
                }
                foreach (string line in held ?? []) context.Out.WriteLine(line);
                if (showProgress) context.Out.Write("\n");
                return exit;
            }
            finally
            {
                second?.Dispose();
                first?.Dispose();
            }
        });
        return command;
    }

    private static IImage Open(string name, string? format, bool imageOpts, bool share, IReadOnlyDictionary<string, string> secrets,
        CacheMode? cache, CliContext context)
    {
        var (path, options) = CommonOptions.Source(name, format, imageOpts, share, secrets, context);
        if (cache != null) options = options with { Cache = cache.Value };
        return DiskImage.Open(path, options);
    }
}
