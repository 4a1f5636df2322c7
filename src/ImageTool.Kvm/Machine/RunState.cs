using ImageTool.Kvm.Interop;

namespace ImageTool.Kvm.Machine;

/// <summary>The vCPU's mmap'ed struct kvm_run (offsets from KVM.md §3).</summary>
internal sealed unsafe class RunState(byte* run, int size)
{
    public KvmExitReason ExitReason => (KvmExitReason)(*(uint*)(run + 8));

    // run.io: u8 direction (1 = out), u8 size, u16 port, u32 count, u64 data_offset.
    public bool IoIsOut => run[32] == 1;
    public int IoSize => run[33];
    public ushort IoPort => *(ushort*)(run + 34);
    public int IoCount => (int)*(uint*)(run + 36);

    /// <summary>The data of an I/O exit (size × count bytes inside the mapping).</summary>
    public Span<byte> IoData
    {
        get
        {
            ulong offset = *(ulong*)(run + 40);
            int length = IoSize * IoCount;
            if (offset + (ulong)length > (ulong)size) throw new KvmException("KVM reported an I/O exit outside kvm_run");
            return new Span<byte>(run + offset, length);
        }
    }

    // run.mmio: u64 phys_addr, u8 data[8], u32 len, u8 is_write.
    public ulong MmioAddress => *(ulong*)(run + 32);
    public Span<byte> MmioData => new(run + 40, Math.Min(8, (int)*(uint*)(run + 48)));
    public bool MmioIsWrite => run[52] != 0;

    public uint InternalSuberror => *(uint*)(run + 32);
    public ulong FailEntryReason => *(ulong*)(run + 32);
    public uint SystemEventType => *(uint*)(run + 32);
}
