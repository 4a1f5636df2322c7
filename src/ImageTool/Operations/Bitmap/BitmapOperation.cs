namespace ImageTool.Operations;

/// <summary>
/// <c>img bitmap</c> (qemu-img 7.2 img_bitmap): opens the image read-write, runs each action as qemu's QMP
/// command does, and lets the close store the bitmaps. A failing action stops the rest.
/// </summary>
public static class BitmapOperation
{
    /// <summary>Applies <paramref name="steps"/> in order to bitmap <paramref name="bitmap"/> of the image at <paramref name="path"/>.</summary>
    /// <param name="path">The image.</param>
    /// <param name="bitmap">The bitmap's name.</param>
    /// <param name="steps">The actions, as given on the command line.</param>
    /// <param name="options">How to open the image and the merge source.</param>
    public static void Run(string path, string bitmap, IReadOnlyList<BitmapStep> steps, BitmapOptions options)
    {
        using var image = DiskImage.Open(path, options.Open with { ReadOnly = false, OpenBacking = false });
        using var source = options.SourceFile == null ? null
            : DiskImage.Open(options.SourceFile, options.Open with { ReadOnly = true, OpenBacking = false, Format = options.SourceFormat });
        foreach (var step in steps)
        {
            try { Apply(image, source, bitmap, step, options); }
            catch (ImageFormatException e)
            {
                throw new ImageFormatException($"Operation {step.Action.ToString().ToLowerInvariant()} on bitmap {bitmap} failed: {e.Message}", e);
            }
        }
    }

    private static void Apply(IImage image, IImage? source, string bitmap, BitmapStep step, BitmapOptions options)
    {
        if (image is not IPersistentBitmaps bitmaps)
        {
            if (step.Action == BitmapAction.Add)
                throw new UnsupportedFeatureException($"Can't store persistent bitmaps to {image.FileName}: Operation not supported");
            throw new ImageFormatException($"Dirty bitmap '{(step.Action == BitmapAction.Merge ? step.Source : bitmap)}' not found");
        }
        switch (step.Action)
        {
            case BitmapAction.Add: bitmaps.AddBitmap(bitmap, options.Granularity, disabled: false); break;
            case BitmapAction.Remove: bitmaps.RemoveBitmap(bitmap); break;
            case BitmapAction.Clear: bitmaps.ClearBitmap(bitmap); break;
            case BitmapAction.Enable: bitmaps.EnableBitmap(bitmap, true); break;
            case BitmapAction.Disable: bitmaps.EnableBitmap(bitmap, false); break;
            case BitmapAction.Merge:
                var from = source == null ? bitmaps : source as IPersistentBitmaps
                    ?? throw new ImageFormatException($"Dirty bitmap '{step.Source}' not found");
                bitmaps.MergeBitmap(step.Source!, bitmap, from);
                break;
        }
    }
}
