namespace ImageTool;

/// <summary>
/// The one base of the library's image errors: a broken, unsupported, locked or unusable image, or a request it
/// cannot carry out. <see cref="Exception.Message"/> is worded like qemu-img's; <see cref="Kind"/> classifies it.
/// </summary>
public class ImageFormatException : Exception
{
    /// <summary>An error of kind <see cref="ImageErrorKind.Invalid"/>.</summary>
    /// <param name="message">The message, as qemu-img words it.</param>
    public ImageFormatException(string message) : base(message) { }

    /// <summary>An error of kind <see cref="ImageErrorKind.Invalid"/> caused by <paramref name="inner"/>.</summary>
    /// <param name="message">The message, as qemu-img words it.</param>
    /// <param name="inner">The cause.</param>
    public ImageFormatException(string message, Exception inner) : base(message, inner) { }

    /// <summary>An error of kind <see cref="ImageErrorKind.Invalid"/> with the runtime's default message.</summary>
    public ImageFormatException() { }

    /// <summary>An error of the given kind.</summary>
    /// <param name="kind">What went wrong.</param>
    /// <param name="message">The message, as qemu-img words it.</param>
    /// <param name="inner">The cause, if any.</param>
    public ImageFormatException(ImageErrorKind kind, string message, Exception? inner = null) : base(message, inner) => Kind = kind;

    /// <summary>What went wrong: catch this type and switch on the kind.</summary>
    public ImageErrorKind Kind { get; }

    /// <summary>
    /// False for the few messages that qemu prints without a final newline (the same quirk as
    /// <see cref="ImageWarning.EndsLine"/>); a front end writing the message honours it.
    /// </summary>
    public bool EndsLine { get; init; } = true;

    /// <summary>
    /// The same error under a new message (the library's boundary adds the context qemu adds, e.g. "Could not open
    /// 'x': "): the kind and line ending are kept, and so is the type of a lock conflict.
    /// </summary>
    internal ImageFormatException WithMessage(string message) => this switch
    {
        ImageLockedException => new ImageLockedException(message, this) { EndsLine = EndsLine },
        _ => new ImageFormatException(Kind, message, this) { EndsLine = EndsLine },
    };
}

/// <summary>The image's metadata is inconsistent or points outside the file.</summary>
internal sealed class ImageCorruptException : ImageFormatException
{
    /// <summary>A corruption described by <paramref name="message"/>.</summary>
    /// <param name="message">The message, as qemu-img words it.</param>
    public ImageCorruptException(string message) : base(ImageErrorKind.Corrupt, message) { }

    /// <summary>A corruption described by <paramref name="message"/>, found through <paramref name="inner"/>.</summary>
    /// <param name="message">The message, as qemu-img words it.</param>
    /// <param name="inner">The cause.</param>
    public ImageCorruptException(string message, Exception inner) : base(ImageErrorKind.Corrupt, message, inner) { }

    /// <summary>A corruption with the runtime's default message.</summary>
    public ImageCorruptException() : base(ImageErrorKind.Corrupt, "Image is corrupt") { }
}

/// <summary>The image uses a feature this implementation (or the format) does not support.</summary>
internal sealed class UnsupportedFeatureException : ImageFormatException
{
    /// <summary>An unsupported feature described by <paramref name="message"/>.</summary>
    /// <param name="message">The message, as qemu-img words it.</param>
    public UnsupportedFeatureException(string message) : base(ImageErrorKind.Unsupported, message) { }

    /// <summary>An unsupported feature described by <paramref name="message"/>, found through <paramref name="inner"/>.</summary>
    /// <param name="message">The message, as qemu-img words it.</param>
    /// <param name="inner">The cause.</param>
    public UnsupportedFeatureException(string message, Exception inner) : base(ImageErrorKind.Unsupported, message, inner) { }

    /// <summary>An unsupported feature with a generic message.</summary>
    public UnsupportedFeatureException() : base(ImageErrorKind.Unsupported, "Operation not supported") { }
}

/// <summary>Another process holds a conflicting lock on the image.</summary>
internal sealed class ImageLockedException : ImageFormatException
{
    /// <summary>A lock conflict described by <paramref name="message"/>.</summary>
    /// <param name="message">The message, as qemu-img words it.</param>
    public ImageLockedException(string message) : base(ImageErrorKind.Locked, message) { }

    /// <summary>A lock conflict described by <paramref name="message"/>, found through <paramref name="inner"/>.</summary>
    /// <param name="message">The message, as qemu-img words it.</param>
    /// <param name="inner">The cause.</param>
    public ImageLockedException(string message, Exception inner) : base(ImageErrorKind.Locked, message, inner) { }

    /// <summary>A lock conflict with a generic message.</summary>
    public ImageLockedException() : base(ImageErrorKind.Locked, "Failed to get lock") { }
}

/// <summary>The format driver failed while writing a new image (qemu-img convert words these "error while converting").</summary>
internal sealed class ImageCreateException : ImageFormatException
{
    /// <summary>A creation failure described by <paramref name="message"/>.</summary>
    /// <param name="message">The message, as qemu-img words it.</param>
    public ImageCreateException(string message) : base(ImageErrorKind.Create, message) { }

    /// <summary>A creation failure described by <paramref name="message"/>, caused by <paramref name="inner"/>.</summary>
    /// <param name="message">The message, as qemu-img words it.</param>
    /// <param name="inner">The cause.</param>
    public ImageCreateException(string message, Exception inner) : base(ImageErrorKind.Create, message, inner) { }

    /// <summary>A creation failure with a generic message.</summary>
    public ImageCreateException() : base(ImageErrorKind.Create, "Image creation failed") { }
}
