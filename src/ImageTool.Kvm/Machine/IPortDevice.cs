namespace ImageTool.Kvm.Machine;

/// <summary>A device on the I/O port bus. Accesses are 1, 2 or 4 bytes wide.</summary>
internal interface IPortDevice
{
    uint Read(ushort port, int size);

    void Write(ushort port, int size, uint value);
}
