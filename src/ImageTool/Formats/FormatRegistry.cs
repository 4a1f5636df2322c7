using ImageTool.Formats.Bochs;
using ImageTool.Formats.Cloop;
using ImageTool.Formats.Cow;
using ImageTool.Formats.Dmg;
using ImageTool.Formats.Luks;
using ImageTool.Formats.Parallels;
using ImageTool.Formats.Qed;
using ImageTool.Formats.Qcow;
using ImageTool.Formats.Qcow2;
using ImageTool.Formats.Raw;
using ImageTool.Formats.Vhdx;
using ImageTool.Formats.Vdi;
using ImageTool.Formats.Vmdk;
using ImageTool.Formats.Vpc;
using ImageTool.IO;
using ImageTool.Nbd;
using ImageTool.Options;
using ImageTool.Protocols;
using ImageTool.Rbd;
using ImageTool.Protocols.Curl;
using ImageTool.Protocols.Blkdebug;
using ImageTool.Protocols.Null;
using ImageTool.Protocols.Quorum;

namespace ImageTool.Formats;

/// <summary>The explicit list of formats; probing picks the highest score, raw is the fallback.</summary>
internal static class FormatRegistry
{
    /// <summary>qemu reads 2 KiB to probe (BLOCK_PROBE_BUF_SIZE).</summary>
    public const int MaxProbeSize = 2048;

    /// <summary>qemu has no explicit limit and runs out of file descriptors; we stop well before.</summary>
    public const int MaxChainDepth = 256;

    // Order breaks probe ties, as qemu's driver registration order does. Raw stays last.
    public static readonly IReadOnlyList<IImageFormat> All =
    [
        Qcow2Format.Instance,
        QcowFormat.Instance,
        VmdkFormat.Instance,
        CowFormat.Instance,
        CloopFormat.Instance,
        VpcFormat.Instance,
        VhdxFormat.Instance,
        VdiFormat.Instance,
        QedFormat.Instance,
        ParallelsFormat.Instance,
        LuksFormat.Instance,
        BochsFormat.Instance,
        DmgFormat.Instance,
        RawFormat.Instance,
    ];

    /// <summary>Protocol drivers that can be named as a format (-f, --image-opts driver=); never probed.</summary>
    public static readonly IReadOnlyList<IImageFormat> Protocols =
    [
        HostProtocol.File,
        HostProtocol.HostDevice,
        HostProtocol.HostCdrom,
        CurlProtocol.Http,
        CurlProtocol.Https,
        CurlProtocol.Ftp,
        CurlProtocol.Ftps,
        NbdFormat.Instance,
        NullProtocol.Co,
        NullProtocol.Aio,
        RbdFormat.Instance,
        QuorumProtocol.Instance,
    ];

    public static IImageFormat? Find(string name) =>
        All.FirstOrDefault(f => f.Name == name) ?? Protocols.FirstOrDefault(f => f.Name == name);

    public static bool IsProtocol(string? name) => Protocols.Any(f => f.Name == name);

    /// <summary>
    /// The file an --image-opts string names: a protocol driver takes <c>filename</c> (or <c>url</c>) itself,
    /// a format takes its file child's (<c>file.filename</c>, or <c>file</c>).
    /// </summary>
    public static string? ImageOptsPath(ImageOptions options) =>
        options.GetString("driver") == BlkdebugImage.DriverName ? BlkdebugImage.PathOf(options)
        : options.GetString("driver") == QuorumName.DriverName ? QuorumName.FromOptions(options, "")
        : Find(options.GetString("driver") ?? "") is NullProtocol nullDriver
            ? options.GetString("filename") ?? nullDriver.UrlPrefix
            : IsProtocol(options.GetString("driver"))
            ? options.GetString("filename") ?? options.GetString("url")
            : options.GetString("file.filename") ?? options.GetString("file") ?? options.GetString("file.url")
            ?? BlkdebugNode.NameFromOptions(options, "file.") ?? QuorumName.FromOptions(options, "file.");

    public static IImageFormat ProbeBytes(ReadOnlySpan<byte> header, string? fileName = null)
    {
        IImageFormat best = RawFormat.Instance;
        int bestScore = 0;
        foreach (var format in All)
        {
            int score = format.Probe(header, fileName);
            if (score > bestScore)
            {
                best = format;
                bestScore = score;
            }
        }
        return best;
    }

    public static IImageFormat ProbeFile(string path, OpenOptions? options = null)
    {
        // A vvfat disk starts with its MBR or boot sector: raw, known without scanning the directory twice.
        if (ImageTool.Protocols.Vvfat.VvfatName.IsVvfat(path)) return RawFormat.Instance;
        using var file = options == null ? HostFile.Open(path, readOnly: true) : HostFile.Open(path, options with { ReadOnly = true });
        Span<byte> header = stackalloc byte[MaxProbeSize];
        int n;
        try
        {
            n = file.ReadAvailable(0, header);
        }
        catch (IOException e) when (file.IsRemote)
        {
            throw new ImageFormatException($"Could not read image for determining its format: {e.Message}", e);
        }
        // As qemu's find_image_format: an empty file is raw whatever its name says (a ".dmg" name would probe dmg).
        return n == 0 ? RawFormat.Instance : ProbeBytes(header[..n], path);
    }

    /// <summary>Opens one image (no backing chain); messages are the inner part of qemu's "Could not open".</summary>
    /// <param name="path">The image file.</param>
    /// <param name="options">How to open it.</param>
    /// <param name="isBacking">A backing file: like qemu's backing children it never lets others write or resize it.</param>
    public static IImage OpenSingle(string path, OpenOptions options, bool isBacking = false)
    {
        (path, options) = ResolveName(path, options);
        if (options.Format == BlkdebugImage.DriverName && options.DriverOptions is { } filterOptions)
        {
            var node = BlkdebugNode.FromOptions(filterOptions);
            var inner = BlkdebugImage.ImageOptionsOf(filterOptions);
            var image = OpenSingle(path, options with { Format = inner.GetString("driver"), DriverOptions = inner }, isBacking);
            return new BlkdebugImage(image, node);
        }
        IImageFormat format;
        bool probed = options.Format == null;
        if (options.Format != null)
            format = Find(options.Format) ?? throw new ImageFormatException($"Unknown driver '{options.Format}'");
        else
            format = ProbeFile(path, options);
        // A volume (rbd:) is opened before qemu probes it, so a failed writable open comes before the warning.
        if (probed && format == RawFormat.Instance && !options.ReadOnly && RemoteFiles.IsVolume(path))
        {
            var image = format.Open(path, options with { FormatWasProbed = probed });
            WarnProbedRaw(path, options);
            return image;
        }
        if (probed && format == RawFormat.Instance && !options.ReadOnly) WarnProbedRaw(path, options);
        // qemu's file.locking=off (locking=off on the protocol itself): no image locks at all.
        string? locking = options.DriverOptions?.GetString(IsProtocol(format.Name) ? "locking" : "file.locking");
        if (locking is "off" or "false" or "no")
            return format.Open(path, options with { FormatWasProbed = probed });
        using (HostFile.ExpectLock(ImageLock.For(path, hasMetadata: !(format == RawFormat.Instance || IsProtocol(format.Name)) || isBacking, options.ReadOnly, options.ForceShare)))
            return format.Open(path, options with { FormatWasProbed = probed });
    }

    /// <summary>
    /// What a name opens when it is not a plain path: a <c>json:{...}</c> name is its options (as
    /// <c>--image-opts</c>), a <c>file:</c> name the host file after the prefix.
    /// </summary>
    private static (string Path, OpenOptions Options) ResolveName(string name, OpenOptions options)
    {
        if (options.Format == null && NullProtocol.ForName(name) is { } nullDriver)
            return (name, options with { Format = nullDriver.Name });
        // A quorum node's name under a format opened from options is that format's file, not options of its own.
        if (options.DriverOptions != null && options.Format != QuorumName.DriverName && QuorumName.Is(name)) return (name, options);
        if (!JsonFileName.Is(name))
        {
            if (options.DriverOptions == null) CheckProtocolPrefix(name);
            return (HostPath.Display(name), options);
        }
        var parsed = JsonFileName.Parse(name);
        string path = RemoteFiles.NameFromOptions(parsed) ?? ImageOptsPath(parsed)
            ?? throw new ImageFormatException("A block device must be specified for \"file\"");
        string? driver = parsed.GetString("driver");
        return (HostPath.Display(path), options with
        {
            Format = driver ?? options.Format,
            DriverOptions = parsed,
            DisplayName = options.DisplayName ?? name,
        });
    }

    /// <summary>
    /// qemu's refusal of a name that starts like <c>proto:</c> with a protocol it does not know ("a:b.qcow2"; a
    /// file of that name is <c>./a:b.qcow2</c> or <c>file:a:b.qcow2</c>).
    /// </summary>
    internal static void CheckProtocolPrefix(string name)
    {
        if (HostPath.ProtocolPrefix(name) is not { } prefix) return;
        if (prefix is "file" or "json" or "blkdebug" || prefix.StartsWith("nbd+", StringComparison.Ordinal) || IsProtocol(prefix)) return;
        // fat:DIR (vvfat) and tftp:// URLs are opened by name, without a driver of their own in the list above.
        if (prefix == "tftp" || global::ImageTool.Protocols.Vvfat.VvfatName.IsVvfat(name)) return;
        throw new ImageFormatException($"Unknown protocol '{prefix}'");
    }

    private static void WarnProbedRaw(string path, OpenOptions options) =>
            options.Warning?.Invoke(
                $"WARNING: Image format was not specified for '{RemoteFiles.NodeName(path)}' and probing guessed raw.\n" +
                "         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.\n" +
                "         Specify the 'raw' format explicitly to remove the restrictions.");

    /// <summary>Opens an image and, when asked, its whole backing chain read-only.</summary>
    public static IImage Open(string path, OpenOptions options)
    {
        var image = OpenSingle(path, options);
        if (!options.OpenBacking) return image;
        try
        {
            var seen = new HashSet<string>(StringComparer.Ordinal) { Path.GetFullPath(path) };
            IImage current = image;
            int depth = 0;
            while (current.BackingFileName is { } name)
            {
                string backingPath = BackingPath.Resolve(current.FileName, name);
                if (!seen.Add(Path.GetFullPath(backingPath)) || ++depth > MaxChainDepth)
                    throw new ImageFormatException($"Could not open backing file: Backing file '{name}' creates an infinite loop.");
                IImage backing;
                try
                {
                    backing = OpenSingle(backingPath, new OpenOptions
                    {
                        ReadOnly = true,
                        Format = current.BackingFormat,
                        ForceShare = options.ForceShare,
                        Secrets = options.Secrets,
                    }, isBacking: true);
                }
                catch (ImageFormatException e)
                {
                    // qemu nests one prefix per level of the chain.
                    throw new ImageFormatException(string.Concat(Enumerable.Repeat("Could not open backing file: ", depth)) + e.Message, e);
                }
                current.AttachBacking(backing);
                current = backing;
            }
            return image;
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }
}
