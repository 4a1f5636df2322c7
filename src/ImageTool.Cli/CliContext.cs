namespace ImageTool.Cli;

/// <summary>Where a command prints: stdout for results, stderr for errors and warnings.</summary>
internal sealed record CliContext(TextWriter Out, TextWriter Err)
{
    public void Warn(ImageWarning warning) => Print(warning.Message, warning.EndsLine);

    /// <summary>
    /// Writes one message of qemu's on stderr, warning or error alike: most end their line, the few that qemu prints
    /// without a final newline say so (<see cref="ImageWarning.EndsLine"/>, <see cref="ImageFormatException.EndsLine"/>).
    /// </summary>
    public void Print(string message, bool endsLine)
    {
        Err.Write(message);
        if (endsLine) Err.WriteLine();
    }
}
