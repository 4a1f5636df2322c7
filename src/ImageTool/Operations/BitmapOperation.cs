namespace ImageTool.Operations;

/// <summary>The actions of <c>img bitmap</c>, applied in command-line order.</summary>
public enum BitmapAction { Add, Remove, Clear, Enable, Disable, Merge }

/// <summary>One action; <see cref="Source"/> is the bitmap a merge reads.</summary>
public sealed record BitmapStep(BitmapAction Action, string? Source = null);

/// <summary>What <c>img bitmap</c> was asked for besides its actions.</summary>
public sealed record BitmapOptions
{
    public OpenOptions Open { get; init; } = new();
    /// <summary>-g for --add; null takes qemu's default.</summary>
    public long? Granularity { get; init; }
    /// <summary>-b: the image holding the merge sources (default: the target image itself).</summary>
    public string? SourceFile { get; init; }
    /// <summary>-F: the format of <see cref="SourceFile"/>.</summary>
    public string? SourceFormat { get; init; }
}

/// <summary>
/// <c>img bitmap</c> (qemu-img 7.2 img_bitmap): opens the image read-write, runs each action as qemu's QMP
/// command does, and lets the close store the bitmaps. A failing action stops the rest.
/// </summary>
public static class BitmapOperation
{
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
