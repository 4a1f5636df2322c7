using System.CommandLine;
using System.Globalization;
using ImageTool.Operations;

namespace ImageTool.Cli.Commands;

internal static class BenchCommand
{
    public const string Synopsis = "[-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] [-i aio] [-n] [--no-drain] [-o offset] [--pattern=pattern] [-q] [-s buffer_size] [-S step_size] [-t cache] [-w] [-U] filename";

    public static Command Build(CliContext context)
    {
        var count = new Option<string?>("-c") { HelpName = "count" };
        var depth = new Option<string?>("-d") { HelpName = "depth" };
        var format = CommonOptions.Format();
        var flushInterval = new Option<string?>("--flush-interval") { HelpName = "flush_interval" };
        var aio = new Option<string?>("-i") { HelpName = "aio" };
        var native = new Option<bool>("-n");
        var noDrain = new Option<bool>("--no-drain");
        var offset = new Option<string?>("-o") { HelpName = "offset" };
        var pattern = new Option<string?>("--pattern") { HelpName = "pattern" };
        var quiet = CommonOptions.Quiet();
        var bufferSize = new Option<string?>("-s") { HelpName = "buffer_size" };
        var step = new Option<string?>("-S") { HelpName = "step_size" };
        var cache = new Option<string?>("-t") { HelpName = "cache" };
        var write = new Option<bool>("-w");
        var forceShare = CommonOptions.ForceShare();
        var imageOpts = CommonOptions.ImageOpts();
        var objects = CommonOptions.Objects();
        var files = CommonOptions.Files();
        var command = new Command("bench", "run a simple image benchmark")
        {
            count, depth, format, flushInterval, aio, native, noDrain, offset, pattern, quiet, bufferSize, step, cache, write, forceShare, imageOpts, objects, files,
        };
        command.SetAction(result =>
        {
            static int Positive(string? text, int fallback, string message) =>
                text == null ? fallback
                : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0 ? v
                : throw new UsageException(message, showTryHint: false);
            int requests = result.GetValue(count) is { } c
                ? (int.TryParse(c, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : throw new UsageException("Invalid request count specified", showTryHint: false))
                : 75000;
            int queueDepth = Positive(result.GetValue(depth), 64, "Invalid queue depth specified");
            long start = result.GetValue(offset) is { } o ? CommonOptions.ParseSize(o, "offset", context) : 0;
            int size = result.GetValue(bufferSize) is { } s ? (int)CommonOptions.ParseSize(s, "buffer size", context, int.MaxValue) : 4096;
            long stepSize = result.GetValue(step) is { } st ? CommonOptions.ParseSize(st, "step_size", context, int.MaxValue) : 0;
            byte fill = 0;
            if (result.GetValue(pattern) is { } p)
                fill = byte.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out byte b) ? b : throw new UsageException("Invalid pattern byte specified", showTryHint: false);
            int interval = 0;
            if (result.GetValue(flushInterval) is { } f)
                interval = int.TryParse(f, NumberStyles.None, CultureInfo.InvariantCulture, out int fi) ? fi : throw new UsageException("Invalid flush interval specified", showTryHint: false);
            if (result.GetValue(aio) is { } mode && mode is not ("threads" or "native" or "io_uring"))
                throw new UsageException($"Invalid aio option: {mode}", showTryHint: false);
            if (result.GetValue(cache) is { } t && t is not ("none" or "writeback" or "writethrough" or "directsync" or "unsafe"))
                throw new UsageException("Invalid cache mode", showTryHint: false);
            bool isWrite = result.GetValue(write);
            if (interval != 0 && !isWrite) throw new UsageException("--flush-interval is only available in write tests", showTryHint: false);
            if (interval != 0 && interval < queueDepth) throw new UsageException("Flush interval can't be smaller than depth", showTryHint: false);
            var names = result.GetValue(files) ?? [];
            if (names.Length != 1) throw new UsageException("Expecting one image file name");
            bool shared = result.GetValue(forceShare);
            var (path, open) = CommonOptions.Source(names[0], result.GetValue(format), result.GetValue(imageOpts), shared,
                CommonOptions.Secrets(result, objects), context);
            if (shared && isWrite) throw new ImageFormatException($"Could not open '{path}': force-share=on can only be used with read-only images");
            using var image = DiskImage.Open(path, open with { ReadOnly = !isWrite });
            var options = new BenchOptions
            {
                Count = requests,
                Depth = queueDepth,
                Offset = start,
                BufferSize = size,
                Step = stepSize,
                Write = isWrite,
                Pattern = fill,
                FlushInterval = interval,
            };
            // bench ignores -q, as qemu-img does.
            context.Out.WriteLine(BenchOperation.Header(options));
            if (interval != 0) context.Out.WriteLine($"Sending flush every {interval} requests");
            var elapsed = BenchOperation.Run(image, options);
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Run completed in {elapsed.TotalSeconds:0.000} seconds."));
            return 0;
        });
        return command;
    }
}
