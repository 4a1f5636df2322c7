using System.Runtime.InteropServices;

namespace ImageTool.Kvm.Interop;

/// <summary>struct kvm_segment (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal struct KvmSegment
{
    public ulong Base;
    public uint Limit;
    public ushort Selector;
    public byte Type;
    public byte Present;
    public byte Dpl;
    public byte Db;
    public byte S;
    public byte L;
    public byte G;
    public byte Avl;
    public byte Unusable;
    public byte Padding;

    /// <summary>A real-mode segment: KVM wants base = selector * 16 set explicitly.</summary>
    public void SetRealMode(ushort selector)
    {
        Selector = selector;
        Base = (ulong)selector << 4;
    }
}
