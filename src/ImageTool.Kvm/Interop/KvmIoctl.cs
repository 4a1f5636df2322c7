namespace ImageTool.Kvm.Interop;

/// <summary>
/// One thin wrapper per KVM ioctl (numbers for x86-64 from &lt;linux/kvm.h&gt;, KVM.md §3). Each failure becomes a
/// <see cref="KvmException"/> naming the ioctl and the errno text.
/// </summary>
internal static unsafe class KvmIoctl
{
    private const nuint GetApiVersionNr = 0xAE00;
    private const nuint CreateVmNr = 0xAE01;
    private const nuint CheckExtensionNr = 0xAE03;
    private const nuint GetVcpuMmapSizeNr = 0xAE04;
    private const nuint GetSupportedCpuidNr = 0xC008AE05;
    private const nuint CreateVcpuNr = 0xAE41;
    private const nuint SetUserMemoryRegionNr = 0x4020AE46;
    private const nuint SetTssAddrNr = 0xAE47;
    private const nuint SetIdentityMapAddrNr = 0x4008AE48;
    private const nuint CreateIrqchipNr = 0xAE60;
    private const nuint IrqLineNr = 0x4008AE61;
    private const nuint RegisterCoalescedMmioNr = 0x4010AE67;
    private const nuint CreatePit2Nr = 0x4040AE77;
    private const nuint RunNr = 0xAE80;
    private const nuint GetRegsNr = 0x8090AE81;
    private const nuint SetRegsNr = 0x4090AE82;
    private const nuint GetSregsNr = 0x8138AE83;
    private const nuint SetSregsNr = 0x4138AE84;
    private const nuint TranslateNr = 0xC018AE85;
    private const nuint GetMsrsNr = 0xC008AE88;
    private const nuint SetMsrsNr = 0x4008AE89;
    private const nuint SetSignalMaskNr = 0x4004AE8B;
    private const nuint SetFpuNr = 0x41A0AE8D;
    private const nuint SetCpuid2Nr = 0x4008AE90;
    private const nuint GetMpStateNr = 0x8004AE98;
    private const nuint GetVcpuEventsNr = 0x8040AE9F;
    private const nuint SetVcpuEventsNr = 0x4040AEA0;

    public const int ApiVersion = 12;
    public const int CapCoalescedMmio = 15, CapCoalescedPio = 162;
    public const int MpStateHalted = 3;

    public static int GetApiVersion(int kvm) => Call(kvm, GetApiVersionNr, 0, "KVM_GET_API_VERSION");

    public static int CreateVm(int kvm) => Call(kvm, CreateVmNr, 0, "KVM_CREATE_VM");

    public static int CheckExtension(int fd, int capability) => Call(fd, CheckExtensionNr, capability, "KVM_CHECK_EXTENSION");

    public static int GetVcpuMmapSize(int kvm) => Call(kvm, GetVcpuMmapSizeNr, 0, "KVM_GET_VCPU_MMAP_SIZE");

    /// <summary>Fills a kvm_cpuid2 buffer ({u32 nent, u32 pad, entries[nent] of 40 bytes}).</summary>
    public static void GetSupportedCpuid(int kvm, byte* cpuid2) => Call(kvm, GetSupportedCpuidNr, (nint)cpuid2, "KVM_GET_SUPPORTED_CPUID");

    public static int CreateVcpu(int vm, int id) => Call(vm, CreateVcpuNr, id, "KVM_CREATE_VCPU");

    public static void SetUserMemoryRegion(int vm, KvmUserspaceMemoryRegion region) =>
        Call(vm, SetUserMemoryRegionNr, (nint)(&region), "KVM_SET_USER_MEMORY_REGION");

    public static void SetTssAddr(int vm, uint address) => Call(vm, SetTssAddrNr, (nint)address, "KVM_SET_TSS_ADDR");

    public static void SetIdentityMapAddr(int vm, ulong address) =>
        Call(vm, SetIdentityMapAddrNr, (nint)(&address), "KVM_SET_IDENTITY_MAP_ADDR");

    public static void CreateIrqchip(int vm) => Call(vm, CreateIrqchipNr, 0, "KVM_CREATE_IRQCHIP");

    public static void IrqLine(int vm, uint irq, bool level)
    {
        ulong irqLevel = irq | ((ulong)(level ? 1u : 0u) << 32); // struct kvm_irq_level {u32 irq; u32 level}
        Call(vm, IrqLineNr, (nint)(&irqLevel), "KVM_IRQ_LINE");
    }

    /// <summary>Writes to ports [port, port + size) go to the coalesced ring instead of exiting (KVM_CAP_COALESCED_PIO).</summary>
    public static void RegisterCoalescedPio(int vm, ushort port, uint size)
    {
        byte* zone = stackalloc byte[16]; // struct kvm_coalesced_mmio_zone {u64 addr; u32 size; u32 pio}
        *(ulong*)zone = port;
        *(uint*)(zone + 8) = size;
        *(uint*)(zone + 12) = 1;
        Call(vm, RegisterCoalescedMmioNr, (nint)zone, "KVM_REGISTER_COALESCED_MMIO");
    }

    public static void CreatePit2(int vm)
    {
        byte* config = stackalloc byte[64]; // struct kvm_pit_config, flags 0
        new Span<byte>(config, 64).Clear();
        Call(vm, CreatePit2Nr, (nint)config, "KVM_CREATE_PIT2");
    }

    /// <summary>Runs the vCPU until an exit; false when a signal interrupted it (EINTR, also EAGAIN).</summary>
    public static bool Run(int vcpu)
    {
        if (LibC.Ioctl(vcpu, RunNr, 0) >= 0) return true;
        int errno = LibC.Errno;
        if (errno is LibC.EIntr or LibC.EAgain) return false;
        throw Failure("KVM_RUN", errno);
    }

    public static KvmRegs GetRegs(int vcpu)
    {
        KvmRegs regs;
        Call(vcpu, GetRegsNr, (nint)(&regs), "KVM_GET_REGS");
        return regs;
    }

    public static void SetRegs(int vcpu, in KvmRegs regs)
    {
        fixed (KvmRegs* p = &regs) Call(vcpu, SetRegsNr, (nint)p, "KVM_SET_REGS");
    }

    public static KvmSregs GetSregs(int vcpu)
    {
        KvmSregs sregs;
        Call(vcpu, GetSregsNr, (nint)(&sregs), "KVM_GET_SREGS");
        return sregs;
    }

    public static void SetSregs(int vcpu, in KvmSregs sregs)
    {
        fixed (KvmSregs* p = &sregs) Call(vcpu, SetSregsNr, (nint)p, "KVM_SET_SREGS");
    }

    /// <summary>Guest-virtual to guest-physical; null when not mapped.</summary>
    public static ulong? Translate(int vcpu, ulong linear)
    {
        byte* t = stackalloc byte[24]; // {u64 linear, u64 phys, u8 valid, writeable, usermode, pad[5]}
        new Span<byte>(t, 24).Clear();
        *(ulong*)t = linear;
        Call(vcpu, TranslateNr, (nint)t, "KVM_TRANSLATE");
        return t[16] != 0 ? *(ulong*)(t + 8) : null;
    }

    /// <summary>One MSR's value (KVM_GET_MSRS with a single entry); null when KVM does not know it.</summary>
    public static ulong? GetMsr(int vcpu, uint index)
    {
        byte* m = stackalloc byte[24]; // struct kvm_msrs {u32 nmsrs, pad} + kvm_msr_entry {u32 index, reserved; u64 data}
        new Span<byte>(m, 24).Clear();
        *(uint*)m = 1;
        *(uint*)(m + 8) = index;
        return Call(vcpu, GetMsrsNr, (nint)m, "KVM_GET_MSRS") == 1 ? *(ulong*)(m + 16) : null;
    }

    /// <summary>Sets MSRs from a kvm_msrs buffer; returns how many were set.</summary>
    public static int SetMsrs(int vcpu, byte* msrs) => Call(vcpu, SetMsrsNr, (nint)msrs, "KVM_SET_MSRS");

    /// <summary>The signal mask in force while the vCPU runs (kernel sigset: 8 bytes).</summary>
    public static void SetSignalMask(int vcpu, ulong mask)
    {
        byte* m = stackalloc byte[12]; // struct kvm_signal_mask {u32 len; u8 sigset[]}
        *(uint*)m = 8;
        *(ulong*)(m + 4) = mask;
        Call(vcpu, SetSignalMaskNr, (nint)m, "KVM_SET_SIGNAL_MASK");
    }

    public static void SetFpu(int vcpu, KvmFpu fpu) => Call(vcpu, SetFpuNr, (nint)(&fpu), "KVM_SET_FPU");

    public static void SetCpuid2(int vcpu, byte* cpuid2) => Call(vcpu, SetCpuid2Nr, (nint)cpuid2, "KVM_SET_CPUID2");

    public static int GetMpState(int vcpu)
    {
        int state;
        Call(vcpu, GetMpStateNr, (nint)(&state), "KVM_GET_MP_STATE");
        return state;
    }

    /// <summary>Injects an exception (kvm_vcpu_events.exception: injected, nr) before the next instruction.</summary>
    public static void InjectException(int vcpu, byte vector)
    {
        byte* events = stackalloc byte[64];
        Call(vcpu, GetVcpuEventsNr, (nint)events, "KVM_GET_VCPU_EVENTS");
        events[0] = 1;
        events[1] = vector;
        events[2] = 0;
        events[3] = 0;
        Call(vcpu, SetVcpuEventsNr, (nint)events, "KVM_SET_VCPU_EVENTS");
    }

    private static int Call(int fd, nuint request, nint arg, string name)
    {
        int result = LibC.Ioctl(fd, request, arg);
        if (result < 0) throw Failure(name, LibC.Errno);
        return result;
    }

    private static KvmException Failure(string name, int errno) => new($"{name} failed: {LibC.ErrorText(errno)}");
}
