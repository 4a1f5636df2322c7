namespace ImageTool.Kvm.Devices;

/// <summary>A PCI function's 256-byte configuration space as seen through conf1.</summary>
internal interface IPciFunction
{
    uint ReadConfig(int register, int size);

    void WriteConfig(int register, int size, uint value);
}
