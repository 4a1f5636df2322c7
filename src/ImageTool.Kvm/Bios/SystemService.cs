using System.Buffers.Binary;

namespace ImageTool.Kvm.Bios;

/// <summary>
/// INT 15h: the memory map (E820h, E801h, 88h), the configuration table (C0h), A20 (24xxh, always on) and
/// waits (86h); everything else answers "unsupported" (CF=1, AH=86h).
/// </summary>
internal sealed class SystemService(long memorySize)
{
    private const uint Smap = 0x534D4150; // "SMAP"

    /// <summary>The machine's E820 map: conventional memory, EBDA, BIOS ROM, extended memory.</summary>
    public static IReadOnlyList<(ulong Base, ulong Length, uint Type)> MemoryMap(long memorySize) =>
    [
        (0, (ulong)BiosRom.EbdaSegment << 4, 1),
        ((ulong)BiosRom.EbdaSegment << 4, 0xA0000 - ((ulong)BiosRom.EbdaSegment << 4), 2),
        (0xF0000, 0x10000, 2),
        (0x100000, (ulong)memorySize - 0x100000, 1),
    ];

    public void Handle(BiosCall call)
    {
        ref var r = ref call.Regs;
        switch (r.Ah)
        {
            case 0xE8 when r.Al == 0x20 && r.Edx == Smap: E820(call); break;
            case 0xE8 when r.Al == 0x01:
                long ext = Math.Min(memorySize - 0x100000, 15 << 20) >> 10;
                long high = Math.Max(0, memorySize - (16 << 20)) >> 16;
                r.Ax = r.Cx = (ushort)ext;
                r.Bx = (ushort)Math.Min(high, 0xFFFF);
                r.Dx = r.Bx;
                call.Carry = false;
                break;
            case 0x88:
                r.Ax = (ushort)Math.Min(0xFFFF, (memorySize - 0x100000) >> 10);
                call.Carry = false;
                break;
            case 0xC0:
                call.SetEs(BiosRom.Segment);
                r.Bx = BiosRom.ConfigTableOffset;
                call.Ok();
                break;
            case 0x24 when r.Al <= 3:
                if (r.Al == 2) r.Al = 1;               // status: enabled
                else if (r.Al == 3) r.Bx = 0x0003;     // supported: keyboard controller and port 92h
                call.Ok();
                break;
            case 0x86:
                long micros = ((long)r.Cx << 16) | r.Dx;
                Thread.Sleep(TimeSpan.FromMicroseconds(Math.Min(micros, 1_000_000)));
                call.Ok();
                break;
            case 0xEC or 0x90 or 0x91: call.Ok(); break;
            default: call.Fail(0x86); break;
        }
    }

    // EBX continuation (index), ES:DI buffer of ECX (>= 20) bytes; CF set once past the last entry.
    private void E820(BiosCall call)
    {
        ref var r = ref call.Regs;
        var map = MemoryMap(memorySize);
        uint index = r.Ebx;
        if (index >= map.Count || r.Ecx < 20)
        {
            call.Fail(0x86);
            return;
        }
        int size = r.Ecx >= 24 ? 24 : 20;
        var entry = call.Memory.Span(call.EsAddress(r.Di), size);
        var (start, length, type) = map[(int)index];
        BinaryPrimitives.WriteUInt64LittleEndian(entry, start);
        BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], length);
        BinaryPrimitives.WriteUInt32LittleEndian(entry[16..], type);
        if (size == 24) BinaryPrimitives.WriteUInt32LittleEndian(entry[20..], 1); // ACPI 3.0 attributes: enabled
        r.Eax = Smap;
        r.Ecx = (uint)size;
        r.Ebx = index + 1 == map.Count ? 0 : index + 1;
        call.Carry = false;
    }
}
