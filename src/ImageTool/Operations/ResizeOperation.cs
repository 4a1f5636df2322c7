namespace ImageTool.Operations;

/// <summary><c>img resize</c>: qemu-img's checks, then the format's own resize.</summary>
public static class ResizeOperation
{
    /// <summary>The error of a shrink without --shrink.</summary>
    internal const string ShrinkRefused = "Use the --shrink option to perform a shrink operation.";
    /// <summary>The warning of a shrink of a raw image without --shrink.</summary>
    internal const string ShrinkWarning = "Shrinking an image will delete all data beyond the shrunken image's end. " +
        "Before performing such an operation, make sure there is no important data there.";

    /// <summary>The --preallocation modes resize takes.</summary>
    internal static readonly IReadOnlyList<string> PreallocationModes = ["off", "metadata", "falloc", "full"];

    /// <summary>The size a resize argument means: absolute, or relative (+/-) to the current size.</summary>
    internal static long TargetSize(long current, long value, int sign) => sign == 0 ? value : current + sign * value;

    /// <exception cref="ImageFormatException">qemu's refusals; nothing is changed on disk then.</exception>
    public static void Run(IImage image, long size, string preallocation = "off", bool shrink = false)
    {
        long current = image.Length;
        if (size <= 0) throw new ImageFormatException("New image size must be positive");
        if (size <= current && preallocation != "off") throw new ImageFormatException("Preallocation can only be used for growing images");
        if (size < current && !shrink) throw new ImageFormatException(ShrinkRefused);
        if (image is not IResizable resizable) throw new UnsupportedFeatureException("Image format driver does not support resize");
        resizable.Resize(size, preallocation);
        image.Flush();
    }
}
