using ImageTool.Kvm.Interop;

namespace ImageTool.Kvm.Machine;

/// <summary>
/// Interrupts KVM_RUN from another thread, the way qemu's SIG_IPI does: the signal is blocked on the vCPU
/// thread except while it runs the guest (KVM_SET_SIGNAL_MASK), so a kick makes KVM_RUN return EINTR and the
/// signal stays pending until <see cref="Consume"/> takes it. No handler runs, so no managed code runs in
/// signal context.
/// </summary>
internal sealed unsafe class VcpuKicker
{
    // SIGRTMIN+10 with glibc; .NET uses SIGRTMIN itself for thread activation.
    private const int Signal = 44;
    private const int SigsetBytes = 128;

    private readonly Lock _lock = new();
    private nuint _thread;
    private bool _attached;

    /// <summary>Arms kicking for the calling thread, which must be the one that calls KVM_RUN.</summary>
    public void Attach(Vcpu vcpu)
    {
        byte* set = stackalloc byte[SigsetBytes];
        byte* old = stackalloc byte[SigsetBytes];
        FillSet(set);
        if (LibC.PthreadSigmask(LibC.SigBlock, set, old) != 0) throw new KvmException("pthread_sigmask failed");
        KvmIoctl.SetSignalMask(vcpu.Fd, *(ulong*)old & ~(1UL << (Signal - 1)));
        lock (_lock)
        {
            _thread = LibC.PthreadSelf();
            _attached = true;
        }
    }

    /// <summary>Called on the vCPU thread before it stops calling KVM_RUN: no kick may target it afterwards.</summary>
    public void Detach()
    {
        lock (_lock) _attached = false;
        Consume();
    }

    public void Kick()
    {
        lock (_lock)
        {
            if (_attached) LibC.PthreadKill(_thread, Signal);
        }
    }

    /// <summary>Takes a pending kick so the next KVM_RUN does not return at once.</summary>
    public void Consume()
    {
        byte* set = stackalloc byte[SigsetBytes];
        FillSet(set);
        var zero = new LibC.Timespec();
        while (LibC.SigTimedWait(set, 0, &zero) == Signal) { }
    }

    private static void FillSet(byte* set)
    {
        new Span<byte>(set, SigsetBytes).Clear();
        set[(Signal - 1) / 8] |= (byte)(1 << ((Signal - 1) % 8));
    }
}
