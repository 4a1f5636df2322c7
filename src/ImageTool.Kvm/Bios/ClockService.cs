namespace ImageTool.Kvm.Bios;

/// <summary>INT 1Ah: the tick count kept in the BDA by the IRQ0 handler, and the RTC (UTC, BCD).</summary>
internal sealed class ClockService
{
    private const ulong TicksBda = 0x46C;
    private const ulong MidnightBda = 0x470;

    public void Handle(BiosCall call)
    {
        ref var r = ref call.Regs;
        var now = DateTime.UtcNow;
        switch (r.Ah)
        {
            case 0x00:
                uint ticks = call.Memory.ReadUInt32(TicksBda);
                r.Cx = (ushort)(ticks >> 16);
                r.Dx = (ushort)ticks;
                r.Al = call.Memory.ReadByte(MidnightBda);
                call.Memory.WriteByte(MidnightBda, 0);
                call.Carry = false;
                break;
            case 0x01:
                call.Memory.WriteUInt32(TicksBda, ((uint)r.Cx << 16) | r.Dx);
                call.Ok();
                break;
            case 0x02:
                r.Ch = Bcd(now.Hour);
                r.Cl = Bcd(now.Minute);
                r.Dh = Bcd(now.Second);
                r.Dl = 0;
                call.Ok();
                break;
            case 0x04:
                r.Ch = Bcd(now.Year / 100);
                r.Cl = Bcd(now.Year % 100);
                r.Dh = Bcd(now.Month);
                r.Dl = Bcd(now.Day);
                call.Ok();
                break;
            case 0x03 or 0x05: call.Ok(); break; // setting the RTC is ignored
            default: call.Fail(0x86); break;     // includes the PCI BIOS (B1xxh): absent
        }
    }

    private static byte Bcd(int v) => (byte)(((v / 10) << 4) | (v % 10));
}
