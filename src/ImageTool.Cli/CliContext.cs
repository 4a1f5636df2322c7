namespace ImageTool.Cli;

/// <summary>Where a command prints: stdout for results, stderr for errors and warnings.</summary>
internal sealed record CliContext(TextWriter Out, TextWriter Err)
{
    public void Warn(ImageWarning warning)
    {
        Err.Write(warning.Message);
        if (warning.EndsLine) Err.WriteLine();
    }
}
