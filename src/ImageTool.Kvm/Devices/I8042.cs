using ImageTool.Kvm.Machine;

namespace ImageTool.Kvm.Devices;

/// <summary>
/// Enough of the i8042 keyboard controller (0x60/0x64, after Firecracker's) for drivers to probe it and for
/// reset: command 0xFE, an output-port write with bit 0 clear, or bit 0 of port 0x92 restart the machine.
/// </summary>
internal sealed class I8042(Action reset) : IPortDevice
{
    public const ushort Data = 0x60;
    public const ushort Command = 0x64;
    public const ushort SystemControlA = 0x92;

    private readonly Queue<byte> _output = new();
    private byte _controlByte = 0x45; // keyboard interrupt on, system flag, translation
    private byte _pendingCommand;

    public uint Read(ushort port, int size)
    {
        switch (port)
        {
            case Data:
                return _output.Count > 0 ? _output.Dequeue() : 0u;
            case Command:
                // system flag, keyboard not inhibited; input buffer never full, so reset loops never spin.
                return 0x14u | (_output.Count > 0 ? 1u : 0u);
            case SystemControlA:
                return 0x02; // A20 on
            default:
                return 0xFF;
        }
    }

    public void Write(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        if (port == SystemControlA)
        {
            if ((v & 1) != 0) reset();
            return;
        }
        if (port == Command)
        {
            RunCommand(v);
            return;
        }
        switch (_pendingCommand)
        {
            case 0x60: _controlByte = v; break;
            case 0xD1:
                if ((v & 1) == 0) reset();
                break;
            default:
                _output.Enqueue(0xFA); // keyboard ACK
                if (v == 0xFF) _output.Enqueue(0xAA); // keyboard reset: self-test passed
                break;
        }
        _pendingCommand = 0;
    }

    private void RunCommand(byte command)
    {
        switch (command)
        {
            case 0x20: _output.Enqueue(_controlByte); break;
            case 0x60 or 0xD1: _pendingCommand = command; break;
            case 0xAA: _output.Enqueue(0x55); break;           // controller self-test passed
            case 0xAB: _output.Enqueue(0x00); break;           // keyboard interface test passed
            case 0xD0: _output.Enqueue(0x03); break;           // output port: A20 on, not in reset
            case 0xFE: reset(); break;
        }
    }
}
