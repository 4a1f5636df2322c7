using ImageTool.Options;

namespace ImageTool.Operations;

/// <summary><c>img amend</c>: validates options against the format's amend schema, then lets the image apply them.</summary>
public static class AmendOperation
{
    /// <summary>The amend options of a format, or null when it cannot amend.</summary>
    internal static IReadOnlyList<OptionSpec>? Schema(string format) => (DiskImage.FindFormat(format) as IAmendableFormat)?.AmendOptions;

    /// <summary>The help text <c>img amend -o help</c> prints for <paramref name="format"/>.</summary>
    /// <param name="format">A format name.</param>
    /// <returns>qemu-img's text.</returns>
    internal static string Help(string format)
    {
        var schema = Schema(format) ?? throw new ImageFormatException($"Format driver '{format}' does not support option amendment");
        return $"Amend options for '{format}':\n" + string.Concat(ImageOptions.HelpLines(schema).Select(l => l + "\n"));
    }

    /// <summary>
    /// Amends <paramref name="image"/>. <paramref name="progress"/> gets percentages as qemu-img amend -p
    /// reports them: 0 once the options are accepted, then the format's steps, then 100 (also after a refusal).
    /// </summary>
    /// <remarks><paramref name="cancellationToken"/> is honoured before the image is changed; the format's amendment runs to its end.</remarks>
    public static void Run(IImage image, ImageOptions options, bool force = false, IProgress<double>? progress = null,
        CancellationToken cancellationToken = default)
    {
        string format = image.Format.Name;
        var schema = Schema(format);
        if (schema == null || image is not IAmendable amendable)
            throw new ImageFormatException($"Format driver '{format}' does not support option amendment");
        try
        {
            options.Validate(schema);
        }
        catch (ArgumentException e)
        {
            // As qemu-img: the hint comes when the options parse once the creation options are added.
            bool createOnly = Parses(options, [.. schema, .. image.Format.CreateOptions.Where(c => schema.All(s => s.Name != c.Name))]);
            throw new ImageFormatException(createOnly ? $"{e.Message}\nThis option is only supported for image creation" : e.Message, e);
        }
        cancellationToken.ThrowIfCancellationRequested();
        progress?.Report(0);
        try
        {
            amendable.Amend(options, force, progress == null ? null : (done, total) => progress.Report(100f * done / total));
            image.Flush();
        }
        finally { progress?.Report(100); }
    }

    private static bool Parses(ImageOptions options, IReadOnlyList<OptionSpec> schema)
    {
        try
        {
            options.Validate(schema);
            return true;
        }
        catch (ArgumentException) { return false; }
    }
}
