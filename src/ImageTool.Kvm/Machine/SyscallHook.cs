using ImageTool.Kvm.Interop;

namespace ImageTool.Kvm.Machine;

/// <summary>
/// Completes SYSCALLs from guest user mode on hosts where KVM leaves them half done (kvm_pvm, KVM.md finding 2):
/// there SYSCALL sets RCX, R11 and RFLAGS and jumps to LSTAR but stays at CPL3, so fetching the kernel's entry
/// code faults (#PF, CR2 = RIP = LSTAR) into the guest kernel, which kills the process. The hook puts an INT3
/// over the first instruction of the guest's #PF handler, a NOP-like one (KVM's emulator stops at the INT3 with
/// an emulation failure). When the fault frame shows user mode at LSTAR, the monitor finishes the SYSCALL:
/// kernel SS from STAR, the caller's RSP, RIP = LSTAR, at CPL0. Any other fault runs the displaced instruction
/// and goes on in the handler. The hook follows the guest's IDT, checked after exits.
/// </summary>
internal sealed class SyscallHook(Vcpu vcpu, GuestMemory memory)
{
    private const int PageFaultVector = 14;
    private const ulong KernelHalf = 0xFFFF800000000000;
    private const uint MsrStar = 0xC0000081, MsrLstar = 0xC0000082;
    private const int RecheckMs = 100;
    private const byte Int3 = 0xCC;

    private ulong _handler;         // guest-virtual address of the hooked #PF handler, 0 = none
    private ulong _patchedAt;       // its guest-physical address
    private byte _displaced;        // the byte the INT3 replaced
    private long _nextCheck;

    /// <summary>Installs or moves the hook when the guest's #PF handler changed; cheap when nothing is due.</summary>
    public void Refresh()
    {
        long now = Environment.TickCount64;
        if (now < _nextCheck) return; // also without a hook: KVM_GET_SREGS on every exit slowed I/O-bound guests
        _nextCheck = now + RecheckMs;
        var sregs = vcpu.GetSregs();
        if ((sregs.Efer & 0x400) == 0 || (sregs.Cr0 & 0x80000000) == 0) return; // long mode with paging only
        if (sregs.Idt.Base < KernelHalf || sregs.Idt.Limit < PageFaultVector * 16 + 15) return;
        Span<byte> gate = stackalloc byte[16];
        if (!ReadVirtual(sregs.Idt.Base + PageFaultVector * 16, gate) || (gate[5] & 0x80) == 0) return;
        ulong handler = gate[0] | (ulong)gate[1] << 8 | (ulong)gate[6] << 16 | (ulong)gate[7] << 24
            | (ulong)BitConverter.ToUInt32(gate[8..12]) << 32;
        if (handler == _handler && memory.ReadByte(_patchedAt) == Int3) return;
        if (handler != _handler) Remove();
        Install(handler);
    }

    /// <summary>Handles an emulation failure at the hook; false when the exit is not the hook's.</summary>
    /// <param name="kind">"syscall" (completed) or "page-fault" (passed on to the handler).</param>
    public bool TryHandle(out string kind)
    {
        kind = "";
        if (_handler == 0) return false;
        var regs = vcpu.GetRegs();
        var sregs = vcpu.GetSregs();
        if (regs.Rip != _handler || sregs.Cs.Dpl != 0 || memory.ReadByte(_patchedAt) != Int3) return false;
        Span<byte> frame = stackalloc byte[48]; // error code, RIP, CS, RFLAGS, RSP, SS
        if (!ReadVirtual(regs.Rsp, frame)) return false;
        ulong faultRip = BitConverter.ToUInt64(frame[8..]), faultCs = BitConverter.ToUInt64(frame[16..]);
        if ((faultCs & 3) == 3 && vcpu.GetMsr(MsrLstar) is { } lstar && faultRip == lstar && vcpu.GetMsr(MsrStar) is { } star)
        {
            CompleteSyscall(ref regs, ref sregs, lstar, star, BitConverter.ToUInt64(frame[24..]), BitConverter.ToUInt64(frame[32..]));
            kind = "syscall";
            return true;
        }
        kind = "page-fault";
        return RunDisplaced(ref regs);
    }

    private void CompleteSyscall(ref KvmRegs regs, ref KvmSregs sregs, ulong lstar, ulong star, ulong rflags, ulong rsp)
    {
        ushort kernelCs = (ushort)((star >> 32) & 0xFFFC);
        sregs.Cs = new KvmSegment { Selector = kernelCs, Limit = 0xFFFFFFFF, Type = 0xB, Present = 1, S = 1, L = 1, G = 1 };
        sregs.Ss = new KvmSegment { Selector = (ushort)(kernelCs + 8), Limit = 0xFFFFFFFF, Type = 0x3, Present = 1, S = 1, Db = 1, G = 1 };
        vcpu.SetSregs(sregs);
        regs.Rip = lstar;
        regs.Rsp = rsp;
        regs.Rflags = (rflags & ~0x10000UL) | 2; // the RFLAGS mask is applied already; RF as SYSCALL leaves it
        vcpu.SetRegs(regs);
    }

    private bool RunDisplaced(ref KvmRegs regs)
    {
        Span<byte> code = stackalloc byte[16];
        if (!ReadVirtual(_handler, code)) return false;
        code[0] = _displaced;
        int length = DisplaceableLength(code, out ulong clearedFlags);
        regs.Rip += (ulong)length;
        regs.Rflags &= ~clearedFlags;
        vcpu.SetRegs(regs);
        return true;
    }

    private void Install(ulong handler)
    {
        _handler = 0;
        Span<byte> code = stackalloc byte[16];
        if (!ReadVirtual(handler, code) || DisplaceableLength(code, out _) == 0 || vcpu.Translate(handler) is not { } at) return;
        _handler = handler;
        _patchedAt = at;
        _displaced = code[0];
        memory.WriteByte(at, Int3);
    }

    private void Remove()
    {
        if (_handler != 0 && memory.ReadByte(_patchedAt) == Int3) memory.WriteByte(_patchedAt, _displaced);
        _handler = 0;
    }

    /// <summary>
    /// Length of a first instruction the monitor can run itself (NOPs, ENDBR64, CLAC, CLD: what Linux puts at
    /// the top of its exception entry), with the RFLAGS bits it clears; 0 for anything else.
    /// </summary>
    internal static int DisplaceableLength(ReadOnlySpan<byte> code, out ulong clearedFlags)
    {
        clearedFlags = 0;
        int prefixes = 0;
        while (prefixes < 4 && code[prefixes] == 0x66) prefixes++;
        var c = code[prefixes..];
        if (c[0] == 0x90) return prefixes + 1;
        if (prefixes > 0) return c[0] == 0x0F && c[1] == 0x1F && ((c[2] >> 3) & 7) == 0 ? prefixes + EmulationFixups.ModRmLength(c, 2) : 0;
        if (c[0] == 0xFC)
        {
            clearedFlags = 0x400; // DF
            return 1;
        }
        if (c[0] == 0x0F && c[1] == 0x01 && c[2] == 0xCA)
        {
            clearedFlags = 0x40000; // AC
            return 3;
        }
        if (c[0] == 0xF3 && c[1] == 0x0F && c[2] == 0x1E && c[3] == 0xFA) return 4;
        if (c[0] == 0x0F && c[1] == 0x1F && ((c[2] >> 3) & 7) == 0) return EmulationFixups.ModRmLength(c, 2);
        return 0;
    }

    private bool ReadVirtual(ulong address, Span<byte> into)
    {
        int done = 0;
        while (done < into.Length)
        {
            ulong va = address + (ulong)done;
            int chunk = (int)Math.Min((ulong)(into.Length - done), 0x1000 - (va & 0xFFF));
            if (vcpu.Translate(va) is not { } pa || !memory.Contains(pa, chunk)) return false;
            memory.Span(pa, chunk).CopyTo(into[done..]);
            done += chunk;
        }
        return true;
    }
}
