using System.CommandLine;
using System.Globalization;
using ImageTool.Operations;

namespace ImageTool.Cli.Commands;

internal static class ConvertCommand
{
    public const string Synopsis = "[--object objectdef] [--image-opts] [--target-image-opts] [--target-is-zero] [--bitmaps] [-U] [-C] [-c] [-p] [-q] [-n] [-f fmt] [-t cache] [-T src_cache] [-O output_fmt] [-B backing_file [-F backing_fmt]] [-o options] [-l snapshot_param] [-S sparse_size] [-r rate_limit] [-m num_coroutines] [-W] [--salvage] filename [filename2 [...]] output_filename";

    private const long MaxSparseSize = 16 << 20;

    public static Command Build(CliContext context)
    {
        var objects = CommonOptions.Objects();
        var imageOpts = CommonOptions.ImageOpts();
        var targetImageOpts = new Option<bool>("--target-image-opts");
        var targetIsZero = new Option<bool>("--target-is-zero") { Description = "assume the existing target reads as zeros (needs -n)" };
        var bitmaps = new Option<bool>("--bitmaps");
        var salvage = new Option<bool>("--salvage");
        var skipBroken = new Option<bool>("--skip-broken-bitmaps");
        var forceShare = CommonOptions.ForceShare();
        var copyOffload = new Option<bool>("-C");
        var compress = new Option<bool>("-c") { Description = "compress the target's clusters" };
        var identicalCompression = new Option<bool>("--qemu-identical-compression") { Description = "with -c: deflate as qemu-img does, to its exact bytes (slower)" };
        var progress = new Option<bool>("-p") { Description = "show progress" };
        var quiet = CommonOptions.Quiet();
        var noCreate = new Option<bool>("-n") { Description = "write into an existing target" };
        var format = CommonOptions.Format();
        var cache = new Option<string?>("-t") { HelpName = "cache" };
        var sourceCache = new Option<string?>("-T") { HelpName = "src_cache" };
        var outputFormat = new Option<string?>("-O") { HelpName = "output_fmt", Description = "target format (raw)" };
        var backing = new Option<string?>("-B") { HelpName = "backing_file" };
        var backingFormat = CommonOptions.Format("-F");
        var options = CommonOptions.ImageOptions();
        var snapshot = new Option<string?>("-l") { HelpName = "snapshot_param" };
        var sparse = new Option<string?>("-S") { HelpName = "sparse_size", Description = "minimum zero run kept sparse (4k; 0 = allocate all)" };
        var rate = new Option<string?>("-r") { HelpName = "rate_limit" };
        var coroutines = new Option<string?>("-m") { HelpName = "num_coroutines" };
        var outOfOrder = new Option<bool>("-W");
        var files = CommonOptions.Files();
        var command = new Command("convert", "convert or copy images")
        {
            objects, imageOpts, targetImageOpts, targetIsZero, bitmaps, salvage, skipBroken, forceShare, copyOffload, compress, identicalCompression, progress,
            quiet, noCreate, format, cache, sourceCache, outputFormat, backing, backingFormat, options, snapshot, sparse, rate,
            coroutines, outOfOrder, files,
        };
        command.SetAction(result =>
        {
            string outFormat = result.GetValue(outputFormat) ?? "raw";
            var optionLists = result.GetValue(options);
            if (CommonOptions.IsHelp(optionLists))
            {
                // As qemu-img: with a target name the protocol's options are listed too.
                context.Out.Write(CommonOptions.OptionHelp(outFormat, withProtocol: (result.GetValue(files) ?? []).Length >= 2));
                return 0;
            }
            CommonOptions.CheckSnapshotParam(result.GetValue(snapshot));
            long sparseSize = 4096;
            string? sparseText = result.GetValue(sparse);
            if (sparseText is { } s)
            {
                if (!Options.SizeParser.TryParse(s, out sparseSize, out _) || sparseSize % 512 != 0 || sparseSize > MaxSparseSize)
                    throw new UsageException("Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 up to 16777216. Select 0 to disable sparse detection (fully allocates output).", showTryHint: false);
            }
            if (result.GetValue(coroutines) is { } m && (!int.TryParse(m, NumberStyles.None, CultureInfo.InvariantCulture, out int count) || count is < 1 or > 16))
                throw new UsageException("Invalid number of coroutines. Allowed number of coroutines is between 1 and 16", showTryHint: false);
            if (result.GetValue(rate) is { } r) CommonOptions.ParseSize(r, "rate limit", context);
            var targetCache = CommonOptions.CheckCache(result.GetValue(cache), "cache ") ?? CacheMode.Unsafe;
            var sourceCacheMode = CommonOptions.CheckCache(result.GetValue(sourceCache), "source cache ");
            if (result.GetValue(skipBroken) && !result.GetValue(bitmaps))
                throw new UsageException("Use of --skip-broken-bitmaps requires --bitmaps", showTryHint: false);
            bool compressed = result.GetValue(compress);
            bool copyOffloading = result.GetValue(copyOffload);
            if (result.GetValue(identicalCompression) && !compressed)
                throw new UsageException("Use of --qemu-identical-compression requires -c", showTryHint: false);
            if (copyOffloading && compressed)
                throw new UsageException("Cannot enable copy offloading when -c is used", showTryHint: false);
            if (copyOffloading && sparseText != null)
                throw new UsageException("Cannot enable copy offloading when -S is used", showTryHint: false);
            if (copyOffloading && result.GetValue(salvage))
                throw new UsageException("Cannot use copy offloading in salvaging mode", showTryHint: false);
            var names = result.GetValue(files) ?? [];
            if (names.Length < 2) throw new UsageException("Must specify image file name", showTryHint: false);
            bool skipCreate = result.GetValue(noCreate);
            if (skipCreate && optionLists is { Length: > 0 })
                throw new UsageException("-o has no effect when skipping image creation", showTryHint: false);
            if (result.GetValue(targetImageOpts) && !skipCreate)
                throw new UsageException("--target-image-opts requires use of -n flag", showTryHint: false);
            if (result.GetValue(targetIsZero) && !skipCreate)
                throw new UsageException("--target-is-zero requires use of -n flag", showTryHint: false);
            if (result.GetValue(snapshot) != null && names.Length > 2)
                throw new UsageException("No support for concatenating multiple snapshot", showTryHint: false);

            var targetOptions = CommonOptions.ParseImageOptions(optionLists);
            if (DiskImage.FindFormat(outFormat) == null)
                throw new UsageException($"Unknown file format '{outFormat}'", showTryHint: false);
            if (compressed && (targetOptions.GetBool("encryption") == true || targetOptions.GetString("encrypt.format") != null))
                throw new UsageException("Compression and encryption not supported at the same time", showTryHint: false);
            if (compressed && targetOptions.GetString("preallocation") is { } pre && pre != "off")
                throw new UsageException("Compression and preallocation not supported at the same time", showTryHint: false);
            string target = names[^1];
            var secrets = CommonOptions.Secrets(result, objects);
            var (_, sourceOptions) = CommonOptions.Source(names[0], result.GetValue(format), result.GetValue(imageOpts),
                result.GetValue(forceShare), secrets, context);
            var sources = names[..^1].Select(n => CommonOptions.Source(n, result.GetValue(format), result.GetValue(imageOpts),
                result.GetValue(forceShare), secrets, context).Path).ToList();
            OpenOptions? targetOpenOptions = null;
            if (result.GetValue(targetImageOpts))
            {
                // As qemu-img: the target string is an option list naming the driver, and -O may not name another.
                (target, targetOpenOptions) = CommonOptions.Source(target, result.GetValue(outputFormat), imageOpts: true,
                    forceShare: false, secrets, context);
                outFormat = targetOpenOptions.Format ?? outFormat;
            }
            bool showProgress = result.GetValue(progress) && !result.GetValue(quiet);
            ConvertOperation.Run(sources, target, new ConvertOptions
            {
                OutputFormat = outFormat,
                TargetOptions = targetOpenOptions,
                OutputOptions = targetOptions,
                Compress = compressed,
                QemuIdenticalCompression = result.GetValue(identicalCompression),
                CopyOffload = copyOffloading,
                Snapshot = result.GetValue(snapshot),
                SparseSize = sparseSize,
                SkipCreate = skipCreate,
                TargetCache = targetCache,
                BackingFile = result.GetValue(backing),
                BackingFormat = result.GetValue(backingFormat),
                SourceOptions = sourceCacheMode is { } mode ? sourceOptions with { Cache = mode } : sourceOptions,
                Secrets = secrets,
                Bitmaps = result.GetValue(bitmaps),
                SkipBrokenBitmaps = result.GetValue(skipBroken),
                Salvage = result.GetValue(salvage),
                Quiet = result.GetValue(quiet),
                Progress = showProgress ? new ProgressMeter(p => context.Out.Write(string.Create(CultureInfo.InvariantCulture, $"    ({p:F2}/100%)\r"))) : null,
            });
            if (showProgress) context.Out.Write("\n");
            return 0;
        });
        return command;
    }
}
