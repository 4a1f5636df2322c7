namespace ImageTool.Nbd;

/// <summary>The connection to an NBD peer broke, timed out or carried something the protocol forbids.</summary>
internal class NbdConnectionException : IOException
{
    public NbdConnectionException(string message) : base(message) { }

    public NbdConnectionException(string message, Exception inner) : base(message, inner) { }
}
