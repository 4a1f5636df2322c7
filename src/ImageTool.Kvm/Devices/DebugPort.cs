using ImageTool.Kvm.Machine;

namespace ImageTool.Kvm.Devices;

/// <summary>
/// Port 0xE9 (Bochs/qemu debugcon: bytes go to the console; reads return 0xE9 so guests can detect it) and
/// port 0x80 (POST codes: remembered, as a diagnostic).
/// </summary>
internal sealed class DebugPort(GuestConsole console) : IPortDevice
{
    public const ushort Console = 0xE9;
    public const ushort Post = 0x80;

    public byte LastPostCode { get; private set; }

    public uint Read(ushort port, int size) => port == Console ? Console : 0xFFu;

    public void Write(ushort port, int size, uint value)
    {
        if (port == Post)
        {
            LastPostCode = (byte)value;
            return;
        }
        console.Output.WriteByte((byte)value);
        if (value == '\n') console.Output.Flush();
    }
}
