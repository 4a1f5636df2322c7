using ImageTool.Kvm.Machine;

namespace ImageTool.Kvm.Devices;

/// <summary>
/// One legacy split virtqueue (virtio 0.9.5 layout, 4096 alignment): descriptors, avail {flags, idx, ring[N]},
/// used {flags, idx, {id, len}[N]}. Guest addresses are bounds-checked by <see cref="GuestMemory"/>; chains
/// longer than the queue (loops) throw <see cref="GuestMemoryException"/>.
/// </summary>
internal sealed class Vring(GuestMemory memory, ushort size)
{
    public const ushort DescNext = 1, DescWrite = 2, AvailNoInterrupt = 1, UsedNoNotify = 1;

    private ulong _desc, _avail, _used;
    private ushort _lastAvail;

    public ushort Size => size;

    public uint Pfn { get; private set; }

    public bool Ready => Pfn != 0;

    public void SetPfn(uint pfn)
    {
        Pfn = pfn;
        _lastAvail = 0;
        _desc = (ulong)pfn << 12;
        _avail = _desc + 16UL * size;
        _used = (_avail + 6 + 2UL * size + 4095) & ~4095UL;
    }

    public void Reset() => SetPfn(0);

    /// <summary>True when the driver has posted a chain the device has not taken.</summary>
    public bool HasAvailable => Ready && _lastAvail != memory.ReadUInt16(_avail + 2);

    public bool InterruptSuppressed => (memory.ReadUInt16(_avail) & AvailNoInterrupt) != 0;

    /// <summary>Sets or clears VRING_USED_F_NO_NOTIFY: the driver need not notify when it posts buffers.</summary>
    public void SuppressNotifications(bool suppress)
    {
        ushort flags = memory.ReadUInt16(_used);
        ushort wanted = suppress ? (ushort)(flags | UsedNoNotify) : (ushort)(flags & ~UsedNoNotify);
        if (wanted != flags) memory.WriteUInt16(_used, wanted);
        Interlocked.MemoryBarrier(); // the flag is visible before the caller looks at the avail index again
    }

    /// <summary>Takes the next available chain's head and fills <paramref name="chain"/>; returns the element count.</summary>
    public int Next(out ushort head, Span<(ulong Address, uint Length, bool Writable)> chain)
    {
        head = (ushort)(memory.ReadUInt16(_avail + 4 + 2UL * (ulong)(_lastAvail % size)) % size);
        _lastAvail++;
        int count = 0;
        for (ushort i = head; ;)
        {
            if (count == chain.Length) throw new GuestMemoryException(_desc, 0);
            ulong desc = _desc + 16UL * i;
            ushort flags = memory.ReadUInt16(desc + 12);
            chain[count++] = (memory.ReadUInt64(desc), memory.ReadUInt32(desc + 8), (flags & DescWrite) != 0);
            if ((flags & DescNext) == 0) break;
            i = (ushort)(memory.ReadUInt16(desc + 14) % size);
        }
        return count;
    }

    public void Complete(ushort head, uint written)
    {
        ushort usedIdx = memory.ReadUInt16(_used + 2);
        ulong element = _used + 4 + 8UL * (ulong)(usedIdx % size);
        memory.WriteUInt32(element, head);
        memory.WriteUInt32(element + 4, written);
        memory.WriteUInt16(_used + 2, (ushort)(usedIdx + 1));
    }
}
