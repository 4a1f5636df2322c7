namespace ImageTool;

/// <summary>
/// A warning qemu-img prints on stderr while opening or working on an image. Most end their line; a few of qemu's
/// (hints it prints verbatim) do not, and <see cref="EndsLine"/> says so.
/// </summary>
/// <param name="Message">The text, as qemu-img words it.</param>
/// <param name="EndsLine">False when qemu prints it without a final newline.</param>
public readonly record struct ImageWarning(string Message, bool EndsLine = true)
{
    /// <summary>A warning that ends its line, the usual kind.</summary>
    public static implicit operator ImageWarning(string message) => new(message);

    /// <summary>The message.</summary>
    /// <returns><see cref="Message"/>.</returns>
    public override string ToString() => Message;
}
