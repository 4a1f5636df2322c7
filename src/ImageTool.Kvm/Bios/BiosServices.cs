using ImageTool.Kvm.Machine;

namespace ImageTool.Kvm.Bios;

/// <summary>
/// The monitor side of the trapping BIOS: an OUT from a service stub in the ROM lands here; the service runs
/// against the caller's registers and the result flags are patched into the FLAGS image the stub's IRET pops.
/// </summary>
internal sealed class BiosServices : IPortDevice
{
    private readonly Vcpu _vcpu;
    private readonly BiosCall _call;
    private readonly DiskService _disk;
    private readonly VideoService _video;
    private readonly SystemService _system;
    private readonly KeyboardService _keyboard;
    private readonly ClockService _clock;
    private readonly Action<string?> _stop;

    // stop: null = reboot request (INT 19h), else a boot failure message (INT 18h).
    public BiosServices(Vcpu vcpu, GuestMemory memory, GuestConsole console, IReadOnlyList<BiosDrive> drives,
        Action<string?> stop, Func<bool> stopping)
    {
        _vcpu = vcpu;
        _call = new BiosCall(memory);
        _disk = new DiskService(drives);
        _video = new VideoService(new TextScreen(memory, console));
        _system = new SystemService(memory.Size);
        _keyboard = new KeyboardService(console, stopping);
        _clock = new ClockService();
        _stop = stop;
    }

    public uint Read(ushort port, int size) => 0xFF;

    public void Write(ushort port, int size, uint value)
    {
        int index = port - BiosRom.FirstTrapPort;
        var regs = _vcpu.GetRegs();
        var sregs = _vcpu.GetSregs();
        // Only the ROM's own stubs (real mode, CS = F000, IP right after the OUT) are service calls.
        if ((sregs.Cr0 & 1) != 0 || sregs.Cs.Base != BiosRom.Base || (ushort)regs.Rip != BiosRom.TrapReturnIp(index)) return;
        _call.Reset(regs, sregs);
        try
        {
            Dispatch(BiosRom.Services[index]);
        }
        catch (GuestMemoryException)
        {
            _call.Fail(0x01);
        }
        if (_call.Carry != null || _call.Zero != null)
        {
            ulong flagsAt = _call.ReturnFrame + 4;
            ushort flags = _call.Memory.ReadUInt16(flagsAt);
            if (_call.Carry is { } cf) flags = (ushort)(cf ? flags | 0x01 : flags & ~0x01);
            if (_call.Zero is { } zf) flags = (ushort)(zf ? flags | 0x40 : flags & ~0x40);
            _call.Memory.WriteUInt16(flagsAt, flags);
        }
        _vcpu.SetRegs(_call.Regs);
        if (_call.SregsChanged) _vcpu.SetSregs(_call.Sregs);
    }

    private void Dispatch(byte vector)
    {
        switch (vector)
        {
            case 0x10: _video.Handle(_call); break;
            case 0x13: _disk.Handle(_call); break;
            case 0x15: _system.Handle(_call); break;
            case 0x16: _keyboard.Handle(_call); break;
            case 0x1A: _clock.Handle(_call); break;
            case 0x12: _call.Regs.Ax = BiosRom.BaseMemoryKiB; break;
            case 0x11: _call.Regs.Ax = BiosRom.EquipmentWord; break;
            case 0x19: _stop(null); break;
            case 0x18: _stop("No bootable device"); break;
        }
    }
}
