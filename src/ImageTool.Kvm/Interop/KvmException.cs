namespace ImageTool.Kvm.Interop;

/// <summary>A KVM call failed or the guest stopped abnormally. The message is what <c>img run</c> prints.</summary>
public sealed class KvmException : Exception
{
    public KvmException(string message) : base(message) { }
    public KvmException(string message, Exception inner) : base(message, inner) { }
    public KvmException() { }
}
