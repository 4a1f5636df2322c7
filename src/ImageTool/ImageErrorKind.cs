namespace ImageTool;

/// <summary>What went wrong, for a caller that reacts to image errors without matching their qemu-worded messages.</summary>
public enum ImageErrorKind
{
    /// <summary>The image or the request cannot be used as given (qemu's EINVAL family): bad option, unknown format, missing file.</summary>
    Invalid,

    /// <summary>The image's metadata is inconsistent or points outside the file.</summary>
    Corrupt,

    /// <summary>The image uses a feature that the format or this implementation does not support.</summary>
    Unsupported,

    /// <summary>Another process holds a conflicting lock on the image.</summary>
    Locked,

    /// <summary>A read, write or flush failed as qemu's block layer fails with an errno (<see cref="ImageIOException"/>).</summary>
    IO,

    /// <summary>The format driver failed while writing a new image.</summary>
    Create,

    /// <summary>The arguments contradict each other or the operation's rules (for example a compare that found a difference under strict mode).</summary>
    Usage,
}
