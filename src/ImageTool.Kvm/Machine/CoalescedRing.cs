namespace ImageTool.Kvm.Machine;

/// <summary>
/// KVM's coalesced I/O ring, a page of the vCPU's mapping: writes to registered ports are appended here by the
/// kernel instead of exiting to us (struct kvm_coalesced_mmio_ring: u32 first, u32 last, then entries of
/// {u64 address, u32 length, u32 pio, u8 data[8]}). A full ring makes the write exit as usual. The loop replays
/// the ring, in order, before it handles any exit, so a device never sees a read or another write ahead of an
/// earlier coalesced write.
/// </summary>
internal sealed unsafe class CoalescedRing(byte* page)
{
    private const int PageSize = 4096, EntrySize = 24;
    private const uint Capacity = (PageSize - 8) / EntrySize;

    public void Drain(IoBus bus)
    {
        uint* first = (uint*)page;
        uint last = Volatile.Read(ref *(uint*)(page + 4));
        while (*first != last)
        {
            byte* entry = page + 8 + EntrySize * (*first % Capacity);
            ulong address = *(ulong*)entry;
            int length = (int)*(uint*)(entry + 8);
            if (*(uint*)(entry + 12) != 0 && length is 1 or 2 or 4)
            {
                uint value = length switch { 1 => entry[16], 2 => *(ushort*)(entry + 16), _ => *(uint*)(entry + 16) };
                bus.Write((ushort)address, length, value);
            }
            Volatile.Write(ref *first, (*first + 1) % Capacity);
        }
    }
}
