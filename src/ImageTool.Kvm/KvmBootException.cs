namespace ImageTool.Kvm;

/// <summary>Nothing bootable: a disk without boot signature, a CD without El Torito, a bad kernel image.</summary>
public sealed class KvmBootException : Exception
{
    public KvmBootException(string message) : base(message) { }
    public KvmBootException(string message, Exception inner) : base(message, inner) { }
    public KvmBootException() { }
}
