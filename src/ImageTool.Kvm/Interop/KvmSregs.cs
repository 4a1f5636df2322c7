using System.Runtime.InteropServices;

namespace ImageTool.Kvm.Interop;

/// <summary>struct kvm_sregs (312 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal struct KvmSregs
{
    public KvmSegment Cs, Ds, Es, Fs, Gs, Ss, Tr, Ldt;
    public KvmDtable Gdt, Idt;
    public ulong Cr0, Cr2, Cr3, Cr4, Cr8, Efer, ApicBase;
    public ulong InterruptBitmap0, InterruptBitmap1, InterruptBitmap2, InterruptBitmap3;
}
