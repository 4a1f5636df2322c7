using System.Buffers.Binary;
using ImageTool.Kvm.Machine;

namespace ImageTool.Kvm.Devices;

/// <summary>
/// PCI configuration mechanism #1 (0xCF8 address latch, 0xCFC-0xCFF data), bus 0 only, with an i440FX host
/// bridge at 00:00.0 (Linux's conf1 sanity check wants a host bridge). Absent functions read all-ones.
/// Port 0xCF9 bit 2 resets the machine (qemu's PIIX reset control).
/// </summary>
internal sealed class PciHost(Action reset) : IPortDevice, IPciFunction
{
    public const ushort Address = 0xCF8;
    public const ushort ResetControl = 0xCF9;

    private readonly Dictionary<int, IPciFunction> _slots = [];
    private uint _address;

    public void Add(int slot, IPciFunction function) => _slots[slot] = function;

    public uint Read(ushort port, int size)
    {
        if (port == Address && size == 4) return _address;
        if (port < 0xCFC) return uint.MaxValue;
        var function = Target(out int register);
        return function?.ReadConfig(register + (port - 0xCFC), size) ?? uint.MaxValue;
    }

    public void Write(ushort port, int size, uint value)
    {
        if (port == Address && size == 4) _address = value;
        else if (port == ResetControl && size == 1)
        {
            if ((value & 4) != 0) reset();
        }
        else if (port >= 0xCFC) Target(out int register)?.WriteConfig(register + (port - 0xCFC), size, value);
    }

    private IPciFunction? Target(out int register)
    {
        register = (int)(_address & 0xFC);
        if ((_address & 0x80000000) == 0) return null;
        int bus = (int)(_address >> 16) & 0xFF, slot = (int)(_address >> 11) & 0x1F, function = (int)(_address >> 8) & 7;
        if (bus != 0 || function != 0) return null;
        return slot == 0 ? this : _slots.GetValueOrDefault(slot);
    }

    // The host bridge itself: 8086:1237, class 06/00/00.
    uint IPciFunction.ReadConfig(int register, int size)
    {
        Span<byte> config = stackalloc byte[256];
        config.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(config, 0x12378086);
        BinaryPrimitives.WriteUInt16LittleEndian(config[4..], 0x0006);
        config[0x0B] = 0x06;
        return ConfigSpace.Read(config, register, size);
    }

    void IPciFunction.WriteConfig(int register, int size, uint value) { }
}
