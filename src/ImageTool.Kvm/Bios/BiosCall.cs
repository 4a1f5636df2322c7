using ImageTool.Kvm.Interop;
using ImageTool.Kvm.Machine;

namespace ImageTool.Kvm.Bios;

/// <summary>One trapped BIOS call: the caller's registers (edited in place) and the CF/ZF it gets back.</summary>
internal sealed class BiosCall(GuestMemory memory)
{
    public KvmRegs Regs;
    public KvmSregs Sregs;
    public bool? Carry;
    public bool? Zero;
    public bool SregsChanged;

    public GuestMemory Memory => memory;

    public ulong EsAddress(ushort offset) => Sregs.Es.Base + offset;
    public ulong DsAddress(ushort offset) => Sregs.Ds.Base + offset;

    /// <summary>Where the INT pushed the caller's IP (FLAGS are 4 bytes further).</summary>
    public ulong ReturnFrame => Sregs.Ss.Base + Regs.Sp;

    public void Reset(in KvmRegs regs, in KvmSregs sregs)
    {
        Regs = regs;
        Sregs = sregs;
        Carry = null;
        Zero = null;
        SregsChanged = false;
    }

    public void SetEs(ushort segment)
    {
        Sregs.Es.SetRealMode(segment);
        SregsChanged = true;
    }

    public void Ok(byte ah = 0)
    {
        Regs.Ah = ah;
        Carry = false;
    }

    public void Fail(byte ah)
    {
        Regs.Ah = ah;
        Carry = true;
    }
}
