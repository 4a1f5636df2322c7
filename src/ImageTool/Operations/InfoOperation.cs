using ImageTool.Formats;
using ImageTool.Info;
using ImageTool.Options;

namespace ImageTool.Operations;

/// <summary><c>img info</c>: opens each image of the chain in turn (never the chain at once) and collects what it reports.</summary>
public static class InfoOperation
{
    /// <summary>The reports of the image at <paramref name="path"/> and, with <paramref name="backingChain"/>, of every image below it.</summary>
    /// <param name="path">The image.</param>
    /// <param name="options">How to open it.</param>
    /// <param name="backingChain">Follow the backing chain (--backing-chain).</param>
    /// <returns>One report per image, top first.</returns>
    public static IReadOnlyList<ImageInfo> Collect(string path, OpenOptions options, bool backingChain)
    {
        var result = new List<ImageInfo>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        string current = path;
        var currentOptions = options with { OpenBacking = false, ReadOnly = true, MetadataOnly = true };
        while (true)
        {
            if (!seen.Add(Path.GetFullPath(current)))
                throw new ImageFormatException($"Backing file '{current}' creates an infinite loop.");
            using var image = DiskImage.Open(current, currentOptions);
            var info = Describe(image) with { Filename = RefreshedFileName.Of(image, current, currentOptions.DriverOptions) };
            result.Add(info);
            if (!backingChain || info.BackingFilename == null) break;
            current = info.FullBackingFilename ?? BackingPath.Resolve(image.FileName, info.BackingFilename);
            currentOptions = currentOptions with { Format = info.BackingFilenameFormat, DisplayName = null };
        }
        return result;
    }

    /// <summary>The image's own report plus the fields qemu's generic layer adds (name, backing path).</summary>
    public static ImageInfo Describe(IImage image)
    {
        var info = image.GetInfo();
        string? backing = image.ReportsBacking ? image.BackingFileName : null;
        return info with
        {
            Filename = image.FileName,
            BackingFilename = backing,
            FullBackingFilename = backing == null ? null : BackingPath.TryResolve(image.FileName, backing),
            BackingFilenameFormat = backing == null ? null : image.BackingFormat,
        };
    }
}
