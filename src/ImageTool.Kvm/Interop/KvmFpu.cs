using System.Runtime.InteropServices;

namespace ImageTool.Kvm.Interop;

/// <summary>struct kvm_fpu (416 bytes): only the control words are set, the rest stays zero.</summary>
[StructLayout(LayoutKind.Explicit, Size = 416)]
internal struct KvmFpu
{
    [FieldOffset(128)] public ushort Fcw;
    [FieldOffset(408)] public uint Mxcsr;
}
