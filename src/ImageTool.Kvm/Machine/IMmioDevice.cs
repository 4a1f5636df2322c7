namespace ImageTool.Kvm.Machine;

/// <summary>A device in the guest-physical MMIO space (above RAM, where KVM exits). Accesses are 1, 2, 4 or 8 bytes.</summary>
internal interface IMmioDevice
{
    uint Read(ulong offset, int size);

    void Write(ulong offset, int size, uint value);
}
