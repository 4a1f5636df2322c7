using ImageTool.Kvm.Interop;

namespace ImageTool.Kvm.Machine;

/// <summary>The single vCPU: its fd, kvm_run, CPUID/MSR/FPU set-up and register access.</summary>
internal sealed unsafe class Vcpu : IDisposable
{
    private readonly int _fd;
    private readonly nint _run;
    private readonly int _runSize;
    private readonly Vm _vm;
    private CoalescedRing? _coalesced;

    public Vcpu(Vm vm, int fd)
    {
        _fd = fd;
        _runSize = KvmIoctl.GetVcpuMmapSize(vm.KvmFd);
        _run = LibC.Mmap(0, (nuint)_runSize, LibC.ProtRead | LibC.ProtWrite, LibC.MapShared, fd, 0);
        if (_run == -1)
        {
            LibC.Close(fd);
            throw new KvmException($"Could not map kvm_run: {LibC.ErrorText(LibC.Errno)}");
        }
        Run = new RunState((byte*)_run, _runSize);
        _vm = vm;
        SetUpCpuid(vm.KvmFd);
        SetUpMsrs();
        KvmIoctl.SetFpu(_fd, new KvmFpu { Fcw = 0x37F, Mxcsr = 0x1F80 });
    }

    public RunState Run { get; }

    /// <summary>The coalesced I/O ring once the VM coalesces some ports, else null.</summary>
    public CoalescedRing? Coalesced
    {
        get
        {
            int page = _vm.CoalescedRingPage;
            if (_coalesced == null && page > 0 && (page + 1) * 4096 <= _runSize) _coalesced = new CoalescedRing((byte*)_run + page * 4096);
            return _coalesced;
        }
    }

    internal int Fd => _fd;

    /// <summary>Runs until the next exit; false when a kick (signal) interrupted the run.</summary>
    public bool Enter() => KvmIoctl.Run(_fd);

    public KvmRegs GetRegs() => KvmIoctl.GetRegs(_fd);
    public void SetRegs(in KvmRegs regs) => KvmIoctl.SetRegs(_fd, regs);
    public KvmSregs GetSregs() => KvmIoctl.GetSregs(_fd);
    public void SetSregs(in KvmSregs sregs) => KvmIoctl.SetSregs(_fd, sregs);
    public ulong? Translate(ulong linear) => KvmIoctl.Translate(_fd, linear);
    public ulong? GetMsr(uint index) => KvmIoctl.GetMsr(_fd, index);
    public void InjectException(byte vector) => KvmIoctl.InjectException(_fd, vector);
    public bool IsHalted => KvmIoctl.GetMpState(_fd) == KvmIoctl.MpStateHalted;

    // KVM_GET_SUPPORTED_CPUID, edited as kvmtool's x86/cpuid.c does (KVM.md §1 step 8).
    private void SetUpCpuid(int kvm)
    {
        const int MaxEntries = 256;
        const int EntrySize = 40;
        byte* buffer = stackalloc byte[8 + MaxEntries * EntrySize];
        new Span<byte>(buffer, 8 + MaxEntries * EntrySize).Clear();
        *(uint*)buffer = MaxEntries;
        KvmIoctl.GetSupportedCpuid(kvm, buffer);
        uint count = Math.Min(*(uint*)buffer, MaxEntries);
        for (int i = 0; i < count; i++)
        {
            uint* e = (uint*)(buffer + 8 + i * EntrySize); // function, index, flags, eax, ebx, ecx, edx
            switch (e[0])
            {
                case 1:
                    e[5] |= 1u << 31;     // ECX: hypervisor present
                    e[4] &= 0x00FFFFFF;   // EBX[31:24]: initial APIC id 0
                    break;
                case 6:
                    e[5] &= ~(1u << 3);   // no energy-performance bias MSR
                    break;
                case 0xA:
                    e[3] = 0;             // no architectural PMU
                    break;
            }
        }
        KvmIoctl.SetCpuid2(_fd, buffer);
    }

    // Firecracker's and kvmtool's boot MSRs (KVM.md §1 step 9).
    private void SetUpMsrs()
    {
        ReadOnlySpan<(uint Index, ulong Value)> msrs =
        [
            (0x174, 0), (0x175, 0), (0x176, 0),                            // SYSENTER_CS/ESP/EIP
            (0xC0000081, 0), (0xC0000082, 0), (0xC0000083, 0), (0xC0000084, 0), (0xC0000102, 0), // STAR..KERNEL_GS_BASE
            (0x10, 0),                                                      // TSC
            (0x1A0, 1),                                                     // MISC_ENABLE: fast strings
            (0x2FF, (1 << 11) | 6),                                         // MTRRdefType: enabled, write-back
        ];
        byte* buffer = stackalloc byte[8 + 16 * msrs.Length];
        new Span<byte>(buffer, 8 + 16 * msrs.Length).Clear();
        *(uint*)buffer = (uint)msrs.Length;
        for (int i = 0; i < msrs.Length; i++)
        {
            *(uint*)(buffer + 8 + 16 * i) = msrs[i].Index;
            *(ulong*)(buffer + 16 + 16 * i) = msrs[i].Value;
        }
        KvmIoctl.SetMsrs(_fd, buffer);
    }

    public void Dispose()
    {
        LibC.Munmap(_run, (nuint)_runSize);
        LibC.Close(_fd);
    }
}
