namespace ImageTool;

/// <summary>A broken, unsupported or unusable image. The message is worded like qemu-img's.</summary>
public class ImageFormatException : Exception
{
    public ImageFormatException(string message) : base(message) { }
    public ImageFormatException(string message, Exception inner) : base(message, inner) { }
    public ImageFormatException() { }

    /// <summary>qemu prints a few hints without a final newline; the CLI honours this.</summary>
    public bool OmitFinalNewline { get; init; }
}

/// <summary>The image's metadata is inconsistent or points outside the file.</summary>
public sealed class ImageCorruptException : ImageFormatException
{
    public ImageCorruptException(string message) : base(message) { }
    public ImageCorruptException(string message, Exception inner) : base(message, inner) { }
    public ImageCorruptException() { }
}

/// <summary>The image uses a feature this implementation (or the format) does not support.</summary>
public sealed class UnsupportedFeatureException : ImageFormatException
{
    public UnsupportedFeatureException(string message) : base(message) { }
    public UnsupportedFeatureException(string message, Exception inner) : base(message, inner) { }
    public UnsupportedFeatureException() { }
}

/// <summary>Another process holds a conflicting lock on the image.</summary>
public sealed class ImageLockedException : ImageFormatException
{
    public ImageLockedException(string message) : base(message) { }
    public ImageLockedException(string message, Exception inner) : base(message, inner) { }
    public ImageLockedException() { }
}

/// <summary>The format driver failed while writing a new image (qemu-img convert words these "error while converting").</summary>
public sealed class ImageCreateException : ImageFormatException
{
    public ImageCreateException(string message) : base(message) { }
    public ImageCreateException(string message, Exception inner) : base(message, inner) { }
    public ImageCreateException() { }
}
