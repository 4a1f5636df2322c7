namespace ImageTool.Operations;

/// <summary>A compare failure with qemu-img compare's exit code (3 block status, 4 read error).</summary>
/// <param name="exitCode">qemu-img compare's exit code for the failure.</param>
/// <param name="message">The message, as qemu-img words it.</param>
/// <param name="inner">The cause, if any.</param>
public sealed class CompareException(int exitCode, string message, Exception? inner = null) : ImageFormatException(message, inner!)
{
    /// <summary>qemu-img compare's exit code for the failure (<see cref="CompareOperation.StatusFailed"/>, <see cref="CompareOperation.ReadFailed"/>).</summary>
    public int ExitCode { get; } = exitCode;
}
