using ImageTool.Kvm.Machine;

namespace ImageTool.Kvm.Bios;

/// <summary>
/// The 64 KiB BIOS segment at F000:0000 and the tables below 1 MiB (KVM.md §5): the interrupt vector table,
/// the BIOS data area at 0x400 and the EBDA. BIOS services are 3-byte stubs <c>OUT imm8, AL; IRET</c> that
/// trap to the monitor (AL is only read, so every register reaches it intact); timer and EOI handlers and
/// the start-up code are real guest code.
/// </summary>
internal static class BiosRom
{
    public const ushort Segment = 0xF000;
    public const ulong Base = 0xF0000;
    public const ushort EntryOffset = 0x100;
    public const ushort EbdaSegment = 0x9FC0;
    public const int BaseMemoryKiB = 639;
    public const ushort EquipmentWord = 0x0222; // one serial port, 80x25 colour, maths coprocessor
    public const ushort ConfigTableOffset = 0x0200;

    /// <summary>Vectors the monitor serves, in trap-port order (port = <see cref="FirstTrapPort"/> + index).</summary>
    public static readonly byte[] Services = [0x10, 0x13, 0x15, 0x16, 0x1A, 0x12, 0x11, 0x19, 0x18];

    public const byte FirstTrapPort = 0xE0;
    private const ushort StubOffset = 0x0010;
    private const ushort BareIret = 0x0000;

    // Start-up code at F000:0100, the IRQ0 handler and EOI-only IRQ handlers (nasm -f bin, org 0x100):
    //   cli; ICW1-4 to both PICs (bases 0x08 and 0x70, cascade on IRQ2, 8086 mode); mask all but IRQ0/IRQ2;
    //   PIT channel 0 mode 3, divisor 0 (18.2 Hz); ss=ds=es=0, sp=0x7c00; mov dl, DRIVE; sti; jmp SEG:OFF
    // irq0: push ds; push ax; ds=0; inc dword [0x46c] wrapping at 0x1800b0 (sets [0x470]); int 0x1c;
    //       EOI; pop ax; pop ds; iret
    // eoi_master: push ax; mov al,0x20; out 0x20,al; pop ax; iret   eoi_slave: same to 0xa0 and 0x20
    private static ReadOnlySpan<byte> Code =>
    [
        0xfa, 0xb0, 0x11, 0xe6, 0x20, 0xe6, 0xa0, 0xb0, 0x08, 0xe6, 0x21, 0xb0,
        0x70, 0xe6, 0xa1, 0xb0, 0x04, 0xe6, 0x21, 0xb0, 0x02, 0xe6, 0xa1, 0xb0,
        0x01, 0xe6, 0x21, 0xe6, 0xa1, 0xb0, 0xfa, 0xe6, 0x21, 0xb0, 0xff, 0xe6,
        0xa1, 0xb0, 0x36, 0xe6, 0x43, 0x30, 0xc0, 0xe6, 0x40, 0xe6, 0x40, 0x31,
        0xc0, 0x8e, 0xd0, 0xbc, 0x00, 0x7c, 0x8e, 0xd8, 0x8e, 0xc0, 0xb2, 0x80,
        0xfb, 0xea, 0x00, 0x7c, 0x00, 0x00, 0x1e, 0x50, 0x31, 0xc0, 0x8e, 0xd8,
        0x83, 0x06, 0x6c, 0x04, 0x01, 0x83, 0x16, 0x6e, 0x04, 0x00, 0x83, 0x3e,
        0x6e, 0x04, 0x18, 0x72, 0x1b, 0x77, 0x08, 0x81, 0x3e, 0x6c, 0x04, 0xb0,
        0x00, 0x72, 0x11, 0xc7, 0x06, 0x6c, 0x04, 0x00, 0x00, 0xc7, 0x06, 0x6e,
        0x04, 0x00, 0x00, 0xc6, 0x06, 0x70, 0x04, 0x01, 0xcd, 0x1c, 0xb0, 0x20,
        0xe6, 0x20, 0x58, 0x1f, 0xcf, 0x50, 0xb0, 0x20, 0xe6, 0x20, 0x58, 0xcf,
        0x50, 0xb0, 0x20, 0xe6, 0xa0, 0xe6, 0x20, 0x58, 0xcf,
    ];

    private const ushort BootDriveImm = EntryOffset + 0x3B;
    private const ushort BootJumpOffset = EntryOffset + 0x3E;
    private const ushort BootJumpSegment = EntryOffset + 0x40;
    private const ushort Irq0Handler = EntryOffset + 0x42;
    private const ushort EoiMaster = EntryOffset + 0x7D;
    private const ushort EoiSlave = EntryOffset + 0x84;

    /// <summary>The IP right after a service stub's OUT, which is where the trap exit reports RIP.</summary>
    public static ushort TrapReturnIp(int serviceIndex) => (ushort)(StubOffset + 3 * serviceIndex + 2);

    /// <summary>Writes ROM, IVT, BDA and EBDA; the start-up code ends with DL = drive and a far jump to the loaded boot image.</summary>
    public static void Install(GuestMemory memory, byte bootDrive, ushort loadSegment, ushort loadOffset, int hardDisks)
    {
        memory.Span(Base, 0x10000).Clear();
        memory.WriteByte(Base + BareIret, 0xCF);
        for (int i = 0; i < Services.Length; i++)
            memory.Write(Base + StubOffset + (ulong)(3 * i), [0xE6, (byte)(FirstTrapPort + i), 0xCF]);
        memory.Write(Base + EntryOffset, Code);
        memory.WriteByte(Base + BootDriveImm, bootDrive);
        memory.WriteUInt16(Base + BootJumpOffset, loadOffset);
        memory.WriteUInt16(Base + BootJumpSegment, loadSegment);
        // INT 15h AH=C0 system configuration table: size, model FC (AT), submodel, revision, feature bytes.
        memory.Write(Base + ConfigTableOffset, [0x08, 0x00, 0xFC, 0x00, 0x00, 0x70, 0x00, 0x00, 0x00, 0x00]);
        memory.Write(Base + 0xFFF5, "01/01/24"u8);
        memory.WriteByte(Base + 0xFFFE, 0xFC);

        for (int v = 0; v < 256; v++) SetVector(memory, v, BareIret);
        for (int i = 0; i < Services.Length; i++) SetVector(memory, Services[i], (ushort)(StubOffset + 3 * i));
        SetVector(memory, 0x08, Irq0Handler);
        for (int v = 0x09; v <= 0x0F; v++) SetVector(memory, v, EoiMaster);
        for (int v = 0x70; v <= 0x77; v++) SetVector(memory, v, EoiSlave);

        memory.Span(0x400, 0x100).Clear();
        memory.WriteUInt16(0x400, 0x3F8);                 // COM1 (SYSLINUX's SERIAL 0 reads it here)
        memory.WriteUInt16(0x40E, EbdaSegment);
        memory.WriteUInt16(0x410, EquipmentWord);
        memory.WriteUInt16(0x413, BaseMemoryKiB);
        memory.WriteUInt16(0x41A, 0x1E);                  // keyboard buffer head/tail (empty)
        memory.WriteUInt16(0x41C, 0x1E);
        memory.WriteByte(0x449, 3);                       // video mode 3: 80x25 colour text
        memory.WriteUInt16(0x44A, TextScreen.Columns);
        memory.WriteUInt16(0x44C, 0x1000);                // page size
        memory.WriteUInt16(0x460, 0x0607);                // cursor shape
        memory.WriteUInt16(0x463, 0x3D4);                 // CRTC base
        memory.WriteUInt32(0x46C, TicksSinceMidnight(DateTime.UtcNow));
        memory.WriteByte(0x475, (byte)hardDisks);
        memory.WriteUInt16(0x480, 0x1E);                  // keyboard buffer start/end
        memory.WriteUInt16(0x482, 0x3E);
        memory.WriteByte(0x484, TextScreen.Rows - 1);
        memory.WriteUInt16(0x485, 16);                    // character height
        memory.Span((ulong)EbdaSegment << 4, 0x400).Clear();
        memory.WriteByte((ulong)EbdaSegment << 4, 1);     // EBDA size in KiB
    }

    // 1193182 / 65536 ticks per second (18.2 Hz).
    public static uint TicksSinceMidnight(DateTime utc) => (uint)(utc.TimeOfDay.TotalSeconds * 1193182 / 65536);

    private static void SetVector(GuestMemory memory, int vector, ushort offset)
    {
        memory.WriteUInt16((ulong)(4 * vector), offset);
        memory.WriteUInt16((ulong)(4 * vector + 2), Segment);
    }
}
