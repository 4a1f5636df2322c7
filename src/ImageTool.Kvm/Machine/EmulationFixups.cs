using ImageTool.Kvm.Interop;

namespace ImageTool.Kvm.Machine;

/// <summary>
/// Instructions KVM's instruction emulator cannot execute, done here instead (KVM.md §7 and the issue): on hosts
/// where guest kernel code is emulated (kvm_pvm) a 32-bit protected-mode IRET (SYSLINUX, every timer tick),
/// INT3, FWAIT and LDMXCSR end in KVM_EXIT_INTERNAL_ERROR, suberror 1. (SYSCALL from user mode: <see cref="SyscallHook"/>.)
/// </summary>
internal sealed class EmulationFixups(Vcpu vcpu, GuestMemory memory)
{
    /// <summary>Performs the failed instruction; false when it is not one of those handled.</summary>
    /// <param name="instruction">The code bytes at RIP, in hex.</param>
    /// <param name="kind">Which fix-up ran (iret32, int3, fwait, ldmxcsr).</param>
    public bool TryFix(out string instruction, out string kind)
    {
        var regs = vcpu.GetRegs();
        var sregs = vcpu.GetSregs();
        Span<byte> code = stackalloc byte[8];
        instruction = kind = "";
        if (!TryReadCode(sregs, regs.Rip, code)) return false;
        instruction = Convert.ToHexString(code).ToLowerInvariant();
        bool protectedMode = (sregs.Cr0 & 1) != 0;
        kind = code[0] switch
        {
            0xCF when protectedMode && sregs.Cs.Db == 1 && sregs.Cs.L == 0 => "iret32",
            0xCC when protectedMode => "int3",
            0x9B => "fwait",
            0x0F when code[1] == 0xAE && ((code[2] >> 3) & 7) == 2 => "ldmxcsr",
            _ => "",
        };
        return kind switch
        {
            "iret32" => Iret32(ref regs, ref sregs),
            "int3" => Int3(ref regs),
            "fwait" => Skip(ref regs, 1),
            "ldmxcsr" => Skip(ref regs, ModRmLength(code, 2)),
            _ => false,
        };
    }

    private bool TryReadCode(in KvmSregs sregs, ulong rip, Span<byte> code)
    {
        ulong linear = ((sregs.Efer & 0x400) != 0 && sregs.Cs.L == 1 ? 0 : sregs.Cs.Base) + rip;
        ulong? physical = (sregs.Cr0 & 0x80000000) != 0 ? vcpu.Translate(linear) : linear;
        if (physical is not { } p || !memory.Contains(p, code.Length)) return false;
        memory.Span(p, code.Length).CopyTo(code);
        return true;
    }

    // Same-privilege IRET with 32-bit operands: pop EIP, CS, EFLAGS; reload CS from the GDT when it changes.
    private bool Iret32(ref KvmRegs regs, ref KvmSregs sregs)
    {
        ulong sp = sregs.Ss.Db == 1 ? (uint)regs.Rsp : (ushort)regs.Rsp;
        ulong frame = sregs.Ss.Base + sp;
        if (!memory.Contains(frame, 12)) return false;
        uint eip = memory.ReadUInt32(frame);
        ushort cs = (ushort)memory.ReadUInt32(frame + 4);
        uint eflags = memory.ReadUInt32(frame + 8);
        if ((cs & 3) != sregs.Cs.Dpl) return false; // a privilege change needs the full IRET
        if (cs != sregs.Cs.Selector)
        {
            ulong descriptorAt = sregs.Gdt.Base + (ulong)(cs & ~7);
            if ((cs & 4) != 0 || (cs & ~7) + 7 > sregs.Gdt.Limit || !memory.Contains(descriptorAt, 8)) return false;
            ulong d = memory.ReadUInt64(descriptorAt);
            uint limit = (uint)((d & 0xFFFF) | ((d >> 32) & 0xF0000));
            bool granular = ((d >> 55) & 1) != 0;
            sregs.Cs = new KvmSegment
            {
                Selector = cs,
                Base = ((d >> 16) & 0xFFFFFF) | (((d >> 56) & 0xFF) << 24),
                Limit = granular ? (limit << 12) | 0xFFF : limit,
                Type = (byte)((d >> 40) & 0xF),
                S = (byte)((d >> 44) & 1),
                Dpl = (byte)((d >> 45) & 3),
                Present = (byte)((d >> 47) & 1),
                L = (byte)((d >> 53) & 1),
                Db = (byte)((d >> 54) & 1),
                G = (byte)(granular ? 1 : 0),
            };
            vcpu.SetSregs(sregs);
        }
        regs.Rip = eip;
        regs.Rflags = (eflags & 0x3F7FD5) | 2;
        ulong newSp = sp + 12;
        regs.Rsp = sregs.Ss.Db == 1 ? (regs.Rsp & ~0xFFFFFFFFUL) | (uint)newSp : (regs.Rsp & ~0xFFFFUL) | (ushort)newSp;
        vcpu.SetRegs(regs);
        return true;
    }

    private bool Int3(ref KvmRegs regs)
    {
        regs.Rip++;
        vcpu.SetRegs(regs);
        vcpu.InjectException(3);
        return true;
    }

    private bool Skip(ref KvmRegs regs, int length)
    {
        regs.Rip += (ulong)length;
        vcpu.SetRegs(regs);
        return true;
    }

    // Length of an instruction whose ModRM byte is at code[at] (no immediate, no prefixes).
    internal static int ModRmLength(ReadOnlySpan<byte> code, int at)
    {
        int mod = code[at] >> 6, rm = code[at] & 7, n = at + 1;
        if (mod != 3 && rm == 4)
        {
            if (mod == 0 && (code[n] & 7) == 5) n += 4;
            n++;
        }
        if (mod == 0 && rm == 5) n += 4;
        else if (mod == 1) n += 1;
        else if (mod == 2) n += 4;
        return n;
    }
}
