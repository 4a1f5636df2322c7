using System.Runtime.InteropServices;

namespace ImageTool.Kvm.Interop;

/// <summary>struct kvm_regs (144 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal struct KvmRegs
{
    public ulong Rax, Rbx, Rcx, Rdx, Rsi, Rdi, Rsp, Rbp;
    public ulong R8, R9, R10, R11, R12, R13, R14, R15;
    public ulong Rip, Rflags;

    public const ulong FlagCarry = 0x1;
    public const ulong FlagZero = 0x40;
    public const ulong FlagInterrupt = 0x200;

    public byte Al { readonly get => (byte)Rax; set => Rax = (Rax & ~0xFFUL) | value; }
    public byte Ah { readonly get => (byte)(Rax >> 8); set => Rax = (Rax & ~0xFF00UL) | ((ulong)value << 8); }
    public ushort Ax { readonly get => (ushort)Rax; set => Rax = (Rax & ~0xFFFFUL) | value; }
    public ushort Bx { readonly get => (ushort)Rbx; set => Rbx = (Rbx & ~0xFFFFUL) | value; }
    public byte Bl { readonly get => (byte)Rbx; set => Rbx = (Rbx & ~0xFFUL) | value; }
    public byte Bh { readonly get => (byte)(Rbx >> 8); set => Rbx = (Rbx & ~0xFF00UL) | ((ulong)value << 8); }
    public ushort Cx { readonly get => (ushort)Rcx; set => Rcx = (Rcx & ~0xFFFFUL) | value; }
    public byte Cl { readonly get => (byte)Rcx; set => Rcx = (Rcx & ~0xFFUL) | value; }
    public byte Ch { readonly get => (byte)(Rcx >> 8); set => Rcx = (Rcx & ~0xFF00UL) | ((ulong)value << 8); }
    public ushort Dx { readonly get => (ushort)Rdx; set => Rdx = (Rdx & ~0xFFFFUL) | value; }
    public byte Dl { readonly get => (byte)Rdx; set => Rdx = (Rdx & ~0xFFUL) | value; }
    public byte Dh { readonly get => (byte)(Rdx >> 8); set => Rdx = (Rdx & ~0xFF00UL) | ((ulong)value << 8); }
    public ushort Si => (ushort)Rsi;
    public ushort Di => (ushort)Rdi;
    public ushort Bp => (ushort)Rbp;
    public ushort Sp => (ushort)Rsp;
    public uint Eax { readonly get => (uint)Rax; set => Rax = value; }
    public uint Ebx { readonly get => (uint)Rbx; set => Rbx = value; }
    public uint Ecx { readonly get => (uint)Rcx; set => Rcx = value; }
    public uint Edx { readonly get => (uint)Rdx; set => Rdx = value; }
}
