using ImageTool.Kvm.Interop;

namespace ImageTool.Kvm.Machine;

/// <summary>
/// A KVM virtual machine: /dev/kvm, the VM fd, guest RAM in slot 0, the in-kernel PIC/IOAPIC/LAPIC and PIT
/// (bring-up order of KVM.md §1).
/// </summary>
internal sealed class Vm : IDisposable
{
    // Intel without unrestricted guest needs a real-mode TSS (3 pages) and an identity map page below 4 GiB,
    // outside RAM; kvmtool and Firecracker use these addresses.
    private const uint TssAddress = 0xFFFBD000;
    private const ulong IdentityMapAddress = 0xFFFBC000;
    private const string DevKvm = "/dev/kvm";

    private readonly int _kvm;
    private readonly int _vm;

    public Vm(long memorySize)
    {
        _kvm = LibC.Open(DevKvm, LibC.ORdWr | LibC.OCloExec);
        if (_kvm < 0) throw new KvmException($"Could not access KVM kernel module: {LibC.ErrorText(LibC.Errno)}");
        try
        {
            int version = KvmIoctl.GetApiVersion(_kvm);
            if (version != KvmIoctl.ApiVersion) throw new KvmException($"KVM API version {version} is not supported (need {KvmIoctl.ApiVersion})");
            _vm = KvmIoctl.CreateVm(_kvm);
            KvmIoctl.SetTssAddr(_vm, TssAddress);
            KvmIoctl.SetIdentityMapAddr(_vm, IdentityMapAddress);
            KvmIoctl.CreateIrqchip(_vm);
            KvmIoctl.CreatePit2(_vm);
            Memory = new GuestMemory(memorySize);
            KvmIoctl.SetUserMemoryRegion(_vm, new KvmUserspaceMemoryRegion
            {
                Slot = 0,
                GuestPhysAddr = 0,
                MemorySize = (ulong)memorySize,
                UserspaceAddr = (ulong)Memory.HostAddress,
            });
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public GuestMemory Memory { get; } = null!;

    internal int KvmFd => _kvm;

    /// <summary>The page of the vCPU mapping that holds the coalesced I/O ring: -1 before any port is coalesced, 0 when KVM cannot.</summary>
    internal int CoalescedRingPage { get; private set; } = -1;

    /// <summary>
    /// Lets the guest's writes to [first, first + count) queue in the coalesced ring instead of each exiting
    /// (for write-only data ports whose writes change nothing the guest can see before its next exit); false
    /// when KVM cannot.
    /// </summary>
    public bool CoalescePortWrites(ushort first, int count)
    {
        if (CoalescedRingPage < 0)
        {
            CoalescedRingPage = KvmIoctl.CheckExtension(_kvm, KvmIoctl.CapCoalescedPio) > 0 ? KvmIoctl.CheckExtension(_kvm, KvmIoctl.CapCoalescedMmio) : 0;
        }
        if (CoalescedRingPage <= 0) return false;
        KvmIoctl.RegisterCoalescedPio(_vm, first, (uint)count);
        return true;
    }

    /// <summary>Drives an interrupt line of the in-kernel PIC and IOAPIC.</summary>
    public void SetIrq(int irq, bool level) => KvmIoctl.IrqLine(_vm, (uint)irq, level);

    public Vcpu CreateVcpu() => new(this, KvmIoctl.CreateVcpu(_vm, 0));

    public void Dispose()
    {
        Memory?.Dispose();
        if (_vm > 0) LibC.Close(_vm);
        if (_kvm > 0) LibC.Close(_kvm);
    }
}
