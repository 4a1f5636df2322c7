namespace ImageTool.Operations;

/// <summary>A compare failure with qemu-img compare's exit code (3 block status, 4 read error).</summary>
public sealed class CompareException(int exitCode, string message, Exception? inner = null) : ImageFormatException(message, inner!)
{
    public int ExitCode { get; } = exitCode;
}
