using ImageTool.Operations;
using ImageTool.Options;

namespace ImageTool.Capabilities;

/// <summary>A format that can tell the file size a new image of it needs (<c>img measure</c>, qemu's bdrv_measure).</summary>
internal interface IMeasurableFormat
{
    /// <summary>
    /// The sizes for an image created with <paramref name="options"/> (already validated against the create
    /// options), of <paramref name="size"/> bytes or holding the data of <paramref name="source"/>.
    /// </summary>
    MeasureResult Measure(ImageOptions options, long? size, IImage? source, CancellationToken cancellationToken);
}
