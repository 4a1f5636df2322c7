using ImageTool.Kvm.Interop;

namespace ImageTool.Kvm.Machine;

/// <summary>
/// The exit loop: runs the vCPU on the calling thread and dispatches exits to the I/O bus until the guest
/// stops. A watchdog kicks the vCPU out of KVM_RUN when nothing has happened for a while, which is how a
/// halted guest (HLT with IF=0; with the in-kernel LAPIC, HLT never exits) and stop requests are noticed.
/// </summary>
internal sealed class VcpuLoop(Vcpu vcpu, GuestMemory memory, IoBus bus, ExitTrace? trace = null, MmioBus? mmio = null)
{
    private const int WatchdogMs = 2;
    private readonly VcpuKicker _kicker = new();
    private readonly EmulationFixups _fixups = new(vcpu, memory);
    private readonly SyscallHook _syscalls = new(vcpu, memory);
    private readonly Lock _lock = new();
    private StopReason? _stop;
    private string? _failure;
    private long _exits;

    public long Exits => Interlocked.Read(ref _exits);

    public bool StopRequested
    {
        get
        {
            lock (_lock) return _stop != null || _failure != null;
        }
    }

    /// <summary>Asks the loop to stop; safe from any thread, the first request wins.</summary>
    public void RequestStop(StopReason reason)
    {
        lock (_lock) _stop ??= reason;
        _kicker.Kick();
    }

    /// <summary>Stops the loop with an error that <see cref="Run"/> throws.</summary>
    public void Fail(string message)
    {
        lock (_lock)
        {
            if (_stop == null) _failure ??= message;
        }
        _kicker.Kick();
    }

    public StopReason Run()
    {
        _kicker.Attach(vcpu);
        using var watchdogStop = new CancellationTokenSource();
        var watchdog = new Thread(() => Watch(watchdogStop.Token)) { IsBackground = true, Name = "vcpu watchdog" };
        watchdog.Start();
        try
        {
            while (true)
            {
                lock (_lock)
                {
                    if (_failure != null) throw new KvmException(_failure);
                    if (_stop is { } stop) return stop;
                }
                bool exited = vcpu.Enter();
                Interlocked.Increment(ref _exits);
                vcpu.Coalesced?.Drain(bus); // writes the guest made before this exit come first
                _syscalls.Refresh();
                trace?.Tick(vcpu);
                if (!exited)
                {
                    trace?.Exit("kick");
                    _kicker.Consume();
                    if (vcpu.IsHalted && (vcpu.GetRegs().Rflags & KvmRegs.FlagInterrupt) == 0) RequestStop(StopReason.Halted);
                    continue;
                }
                HandleExit();
            }
        }
        finally
        {
            watchdogStop.Cancel();
            watchdog.Join();
            _kicker.Detach();
        }
    }

    private void Watch(CancellationToken stop)
    {
        long seen = -1;
        while (!stop.WaitHandle.WaitOne(WatchdogMs))
        {
            long now = Exits;
            if (now == seen) _kicker.Kick();
            seen = now;
        }
    }

    private void HandleExit()
    {
        var run = vcpu.Run;
        trace?.Exit(run.ExitReason == KvmExitReason.Io ? $"io{run.IoPort:x}" : run.ExitReason.ToString());
        switch (run.ExitReason)
        {
            case KvmExitReason.Io:
                HandleIo(run);
                break;
            case KvmExitReason.Mmio:
                if (mmio != null) mmio.Handle(run);
                else if (!run.MmioIsWrite) run.MmioData.Fill(0xFF); // nothing is memory-mapped: the bus floats
                break;
            case KvmExitReason.Hlt:
                if ((vcpu.GetRegs().Rflags & KvmRegs.FlagInterrupt) == 0) RequestStop(StopReason.Halted);
                break;
            case KvmExitReason.Intr:
                _kicker.Consume();
                break;
            case KvmExitReason.Shutdown:
                throw new KvmException($"Guest triple fault (CPU shutdown) at {Where()}");
            case KvmExitReason.SystemEvent:
                RequestStop(StopReason.Reset); // KVM_SYSTEM_EVENT_SHUTDOWN / RESET / CRASH: the guest is done
                break;
            case KvmExitReason.InternalError when run.InternalSuberror == 1:
                if (_syscalls.TryHandle(out string hook))
                {
                    trace?.Fixup(hook);
                    break;
                }
                if (!_fixups.TryFix(out string instruction, out string kind))
                    throw new KvmException($"KVM internal error. Suberror: 1 (emulation failure) at {Where()}, code {instruction}");
                trace?.Fixup(kind);
                break;
            case KvmExitReason.InternalError:
                throw new KvmException($"KVM internal error. Suberror: {run.InternalSuberror} at {Where()}");
            case KvmExitReason.FailEntry:
                throw new KvmException($"KVM entry failed, hardware error 0x{run.FailEntryReason:x} at {Where()}");
            default:
                throw new KvmException($"Unexpected KVM exit {run.ExitReason} at {Where()}");
        }
    }

    private void HandleIo(RunState run)
    {
        int size = run.IoSize, count = run.IoCount;
        ushort port = run.IoPort;
        var data = run.IoData;
        for (int i = 0; i < count; i++)
        {
            var item = data.Slice(i * size, size);
            if (run.IoIsOut)
            {
                uint value = size switch { 1 => item[0], 2 => BitConverter.ToUInt16(item), _ => BitConverter.ToUInt32(item) };
                bus.Write(port, size, value);
            }
            else
            {
                uint value = bus.Read(port, size);
                for (int b = 0; b < size; b++) item[b] = (byte)(value >> (8 * b));
            }
        }
    }

    private string Where()
    {
        var regs = vcpu.GetRegs();
        var sregs = vcpu.GetSregs();
        return $"{sregs.Cs.Selector:x4}:{regs.Rip:x}";
    }
}
