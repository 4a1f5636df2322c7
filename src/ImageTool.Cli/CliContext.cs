namespace ImageTool.Cli;

/// <summary>Where a command prints: stdout for results, stderr for errors and warnings.</summary>
internal sealed record CliContext(TextWriter Out, TextWriter Err)
{
    public void Warn(string message)
    {
        if (message.EndsWith(OpenOptions.NoFinalNewline)) Err.Write(message[..^1]);
        else Err.WriteLine(message);
    }
}
