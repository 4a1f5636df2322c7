using System.Runtime.InteropServices;

namespace ImageTool.Kvm.Interop;

/// <summary>struct kvm_dtable (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal struct KvmDtable
{
    public ulong Base;
    public ushort Limit;
    public ushort Padding0;
    public ushort Padding1;
    public ushort Padding2;
}
