namespace ImageTool.Cli;

/// <summary>A command-line mistake: printed as "img: message", with qemu's "Try ..." line when it has one; exit 1.</summary>
internal sealed class UsageException : Exception
{
    public UsageException(string message, bool showTryHint = true) : base(message) => ShowTryHint = showTryHint;
    public UsageException() { }
    public UsageException(string message, Exception inner) : base(message, inner) { }

    public bool ShowTryHint { get; }
}
