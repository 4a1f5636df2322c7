using ImageTool.Kvm.Machine;

namespace ImageTool.Kvm.Devices;

/// <summary>
/// The CMOS RTC at 0x70/0x71: host UTC time in BCD, 24-hour mode, no update in progress, plus the memory size
/// and boot order bytes SeaBIOS-era software reads.
/// </summary>
internal sealed class Cmos(long memoryBytes, bool bootFromCd) : IPortDevice
{
    private readonly byte[] _ram = new byte[128];
    private byte _index;

    public uint Read(ushort port, int size)
    {
        if (port != 0x71) return 0xFF;
        var now = DateTime.UtcNow;
        long extKiB = Math.Min(0xFFFF, (memoryBytes - 0x100000) / 1024);
        long above16M = Math.Clamp((memoryBytes - 0x1000000) / 0x10000, 0, 0xFFFF);
        return _index switch
        {
            0x00 => Bcd(now.Second),
            0x02 => Bcd(now.Minute),
            0x04 => Bcd(now.Hour),
            0x06 => Bcd((int)now.DayOfWeek + 1),
            0x07 => Bcd(now.Day),
            0x08 => Bcd(now.Month),
            0x09 => Bcd(now.Year % 100),
            0x0A => 0x26,                 // 32.768 kHz, 1024 Hz; UIP clear
            0x0B => 0x02,                 // 24-hour, BCD
            0x0D => 0x80,                 // RTC power good
            0x10 => 0x00,                 // no floppy
            0x14 => 0x06,                 // equipment: VGA, maths coprocessor
            0x15 => 0x80,
            0x16 => 0x02,   // 640 KiB base memory
            0x17 or 0x30 => (uint)(extKiB & 0xFF),
            0x18 or 0x31 => (uint)(extKiB >> 8),
            0x32 => Bcd(now.Year / 100),
            0x34 => (uint)(above16M & 0xFF),
            0x35 => (uint)(above16M >> 8),
            0x3D => bootFromCd ? 0x03u : 0x02u, // SeaBIOS boot order: 3 = CD-ROM, 2 = hard disk
            _ => _ram[_index],
        };
    }

    public void Write(ushort port, int size, uint value)
    {
        if (port == 0x70) _index = (byte)(value & 0x7F); // bit 7 masks NMI
        else if (_index >= 0x0E) _ram[_index] = (byte)value;
    }

    private static uint Bcd(int v) => (uint)(((v / 10) << 4) | (v % 10));
}
