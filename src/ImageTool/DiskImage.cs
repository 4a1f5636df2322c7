using ImageTool.Formats;
using ImageTool.Options;

namespace ImageTool;

/// <summary>The library's entry points: open and create images by path.</summary>
public static class DiskImage
{
    /// <summary>Names of every format, in registry order.</summary>
    public static IEnumerable<string> FormatNames => FormatRegistry.All.Select(f => f.Name);

    /// <summary>Names of every driver, formats and protocols (as qemu-img's help lists them).</summary>
    internal static IEnumerable<string> DriverNames => FormatNames.Concat(FormatRegistry.Protocols.Select(f => f.Name)).Distinct();

    /// <summary>The format named <paramref name="name"/> (formats and protocols alike), or null.</summary>
    /// <param name="name">A format name such as <c>qcow2</c>.</param>
    /// <returns>The format, or null when there is none of that name.</returns>
    internal static IImageFormat? FindFormat(string name) => FormatRegistry.Find(name);

    /// <summary>Opens an image and (unless told otherwise) its backing chain.</summary>
    /// <exception cref="ImageFormatException">"Could not open 'path': reason", worded as qemu-img.</exception>
    public static IImage Open(string path, OpenOptions? options = null)
    {
        try
        {
            return FormatRegistry.Open(path, options ?? new OpenOptions());
        }
        catch (ImageFormatException e)
        {
            throw e.WithMessage($"Could not open '{options?.DisplayName ?? path}': {e.Message}");
        }
    }

    /// <summary>qemu's refusal for formats without creation options (bochs, dmg: drivers without create_opts).</summary>
    internal static void CheckCanCreate(IImageFormat format)
    {
        if (format.CreateOptions.Count == 0)
            throw new UnsupportedFeatureException($"Format driver '{format.Name}' does not support image creation");
    }

    /// <summary>
    /// The file (or URL) an --image-opts string names, or null when it names none; a protocol driver without
    /// its file name fails as qemu does.
    /// </summary>
    /// <param name="options">The parsed option string.</param>
    /// <param name="displayName">The whole option string, as errors show it.</param>
    internal static string? ImageOptsFileName(ImageOptions options, string displayName)
    {
        string? name = FormatRegistry.ImageOptsPath(options);
        string? driver = options.GetString("driver");
        if (name == null && FormatRegistry.Find(driver ?? "") is Protocols.Curl.CurlProtocol)
            throw new ImageFormatException($"Could not open '{displayName}': curl block driver requires an 'url' option");
        if (name == null && FormatRegistry.IsProtocol(driver))
            throw new ImageFormatException($"Could not open '{displayName}': The '{driver}' block driver requires a file name");
        return name;
    }

    /// <summary>
    /// The URL of a network container that <c>--image-opts</c> describes (<c>driver=nbd,server.type=inet,...</c> or
    /// <c>file.driver=nbd,...</c> below a format), to open in place of a path; null when the options name none.
    /// </summary>
    internal static string? NetworkName(ImageOptions options) => IO.RemoteFiles.NameFromOptions(options);

    /// <summary>Probes a file's format from its first bytes ("raw" when nothing matches).</summary>
    public static string Probe(string path) => FormatRegistry.ProbeFile(path).Name;

    /// <summary>
    /// Creates an image as <c>qemu-img create</c> does: validates options, settles size and backing file,
    /// reports the "Formatting ..." line, then lets the format write the file.
    /// </summary>
    /// <param name="request">What to create.</param>
    /// <param name="formatting">Receives qemu's "Formatting 'x', fmt=..." line just before the file is written.</param>
    public static void Create(CreateRequest request, Action<string>? formatting = null)
    {
        var format = FormatRegistry.Find(request.Format)
            ?? throw new ImageFormatException($"Unknown file format '{request.Format}'");
        FormatRegistry.CheckProtocolPrefix(request.Path);
        CheckCanCreate(format);
        var schema = format.CreateOptions;
        // On a volume protocol (rbd:) the protocol's creation options replace the host file's, as in qemu.
        if (IO.RemoteFiles.VolumeCreateOptions(request.Path) is { } volumeOptions)
            schema = [.. schema.Where(s => !s.Protocol && s.Name != "size"), .. volumeOptions];
        var options = request.Options;
        if (options.Contains("backing_file") && !schema.Any(s => s.Name == "backing_file"))
            throw new ImageFormatException($"Backing file not supported for file format '{format.Name}'");
        if (options.Contains("backing_fmt") && !schema.Any(s => s.Name == "backing_fmt"))
            throw new ImageFormatException($"Backing file format not supported for file format '{format.Name}'");
        options.Validate(schema);
        if (request.Size != null)
        {
            if (options.Contains("size")) throw new ImageFormatException("The image size must be specified only once");
            options.Set("size", request.Size.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        string? backingFile = options.GetString("backing_file");
        string? backingFormat = options.GetString("backing_fmt");
        if (backingFormat != null && backingFile == null)
            throw new ImageFormatException("Backing format cannot be used without backing file");
        if (backingFile != null)
        {
            if (backingFile == request.Path)
                throw new ImageFormatException("Error: Trying to create an image with the same filename as the backing file");
            if (backingFile.Length == 0) throw new ImageFormatException("Expected backing file name, got empty string");
            string backingPath = BackingPath.Resolve(request.Path, backingFile);
            // A format whose backing files have one fixed format (UML cow: raw) declares it as the default.
            backingFormat ??= schema.FirstOrDefault(s => s.Name == "backing_fmt")?.Default;
            if (request.UnsafeBacking)
            {
                if (backingFormat == null) throw new ImageFormatException("Backing file specified without backing format");
            }
            else
            {
                // As qemu's bdrv_img_create: the backing image is opened (its format probed when not given) even
                // when the size is known, with its own backing chain, so a missing or broken one is refused before
                // anything is written.
                IImage backing;
                try
                {
                    backing = FormatRegistry.Open(backingPath,
                        new OpenOptions { Format = backingFormat, ForceShare = true, Secrets = request.Secrets });
                }
                catch (ImageFormatException e)
                {
                    throw new ImageFormatException($"{e.Message}\nCould not open backing image.", e);
                }
                using (backing)
                {
                    if (backingFormat == null)
                    {
                        string detected = backing.Format.Name;
                        // qemu 7.2 refuses, because probing the backing file at every open could turn a raw base
                        // into something else. Recording the format probed once closes that hole just as well.
                        if (!request.RecordProbedBackingFormat)
                            throw new ImageFormatException($"Backing file specified without backing format\nDetected format of {detected}.")
                            { EndsLine = false };
                        options.Set("backing_fmt", detected);
                        request.Warning?.Invoke($"warning: Backing file specified without backing format; probed '{detected}' and recorded it in the image (add -F {detected} to say so)");
                    }
                    if (!options.Contains("size"))
                        options.Set("size", backing.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }
            }
        }
        long size = options.GetSize("size") ?? throw new ImageFormatException("Image creation needs a size parameter");

        formatting?.Invoke($"Formatting '{request.Path}', fmt={format.Name} {options.FormatForDisplay(schema)}".TrimEnd());
        try
        {
            format.Create(request.Path, new CreateParameters(size, options, request.Secrets));
        }
        catch (Exception e) when (e is ImageFormatException or IOException or ArgumentException)
        {
            throw new ImageCreateException(e.Message, e);
        }
    }
}
