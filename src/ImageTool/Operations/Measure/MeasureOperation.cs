using ImageTool.Options;

namespace ImageTool.Operations;

/// <summary>
/// <c>img measure</c>: the file size a conversion to a format would need; the format measures itself
/// (<see cref="IMeasurableFormat"/>, qemu's bdrv_measure) from its layout rules, without writing anything.
/// </summary>
public static class MeasureOperation
{
    /// <exception cref="ArgumentException">An option the format does not have or a badly typed value.</exception>
    /// <param name="format">Target format name.</param>
    /// <param name="options">Target creation options (-o).</param>
    /// <param name="size">--size N, when there is no source.</param>
    /// <param name="source">The image to convert, when measured from one.</param>
    /// <param name="cancellationToken">Stops the walk over the source's allocation.</param>
    public static MeasureResult Measure(string format, ImageOptions options, long? size, IImage? source, CancellationToken cancellationToken = default)
    {
        var target = DiskImage.FindFormat(format) ?? throw new ImageFormatException($"Unknown file format '{format}'");
        options.Validate(target.CreateOptions);
        if (target is not IMeasurableFormat measurable)
            throw new ImageFormatException($"Block driver '{target.Name}' does not support size measurement");
        return measurable.Measure(options, size, source, cancellationToken);
    }

    /// <summary>The result as qemu-img measure prints it.</summary>
    /// <param name="r">The measurement.</param>
    /// <returns>qemu-img's text.</returns>
    internal static string Human(MeasureResult r) =>
        $"required size: {r.Required}\nfully allocated size: {r.FullyAllocated}\n" + (r.Bitmaps is { } b ? $"bitmaps size: {b}\n" : "");

    /// <summary>The result as qemu-img measure --output=json prints it.</summary>
    /// <param name="r">The measurement.</param>
    /// <returns>qemu-img's JSON.</returns>
    internal static string Json(MeasureResult r) =>
        "{\n" + (r.Bitmaps is { } b ? $"    \"bitmaps\": {b},\n" : "") +
        $"    \"required\": {r.Required},\n    \"fully-allocated\": {r.FullyAllocated}\n}}\n";
}
