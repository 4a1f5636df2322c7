using System.Buffers.Binary;
using ImageTool.Kvm.Machine;

namespace ImageTool.Kvm.Devices;

/// <summary>
/// Legacy (virtio 0.9.5) virtio-blk PCI function 1af4:1001 with an I/O BAR and INTx (KVM.md §4.1), serving an
/// <see cref="IBlockDevice"/>. Requests complete synchronously on the notify write; data moves straight
/// between guest memory and the block device.
/// </summary>
internal sealed class VirtioBlk : IPortDevice, IPciFunction
{
    public const int BarSize = 0x40;
    private const ushort QueueSize = 128;
    private const uint FeatureSegMax = 1 << 2;
    private const uint FeatureReadOnly = 1 << 5;
    private const uint FeatureBlockSize = 1 << 6;
    private const uint FeatureFlush = 1 << 9;
    private const uint TypeIn = 0, TypeOut = 1, TypeFlush = 4, TypeGetId = 8;
    private const byte StatusOk = 0, StatusIoError = 1, StatusUnsupported = 2;
    private const ushort DescNext = 1, DescWrite = 2;

    private readonly IBlockDevice _disk;
    private readonly GuestMemory _memory;
    private readonly Action<int, bool> _setIrq;
    private readonly int _irq;
    private readonly string _serial;
    private readonly byte[] _config = new byte[256];
    private readonly uint _hostFeatures;
    private uint _guestFeatures, _queuePfn;
    private ushort _queueSelect, _lastAvail;
    private byte _status, _isr;

    public VirtioBlk(IBlockDevice disk, GuestMemory memory, Action<int, bool> setIrq, int irq, ushort ioBase, string serial)
    {
        _disk = disk;
        _memory = memory;
        _setIrq = setIrq;
        _irq = irq;
        _serial = serial;
        IoBase = ioBase;
        _hostFeatures = FeatureSegMax | FeatureBlockSize | FeatureFlush | (disk.IsReadOnly ? FeatureReadOnly : 0);
        var c = _config.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(c, 0x10011AF4);   // vendor, device (legacy block)
        BinaryPrimitives.WriteUInt16LittleEndian(c[4..], 0x0001);  // command: I/O space on
        c[0x08] = 0;                                               // revision 0: legacy ABI
        c[0x0B] = 0x01;                                            // class: mass storage
        BinaryPrimitives.WriteUInt32LittleEndian(c[0x10..], ioBase | 1u);
        BinaryPrimitives.WriteUInt32LittleEndian(c[0x2C..], 0x00021AF4); // subsystem: 1af4, id 2 = block
        c[0x3C] = (byte)irq;                                       // interrupt line (Linux without ACPI uses it)
        c[0x3D] = 1;                                               // INTA#
    }

    public ushort IoBase { get; }

    public uint ReadConfig(int register, int size) => ConfigSpace.Read(_config, register, size);

    public void WriteConfig(int register, int size, uint value)
    {
        ConfigSpace.WriteHeader(_config, register, size, value, new ConfigSpace.Bar(0x10, BarSize, IoBase, Io: true));
    }

    public uint Read(ushort port, int size)
    {
        int offset = port - IoBase;
        switch (offset)
        {
            case 0x00: return _hostFeatures;
            case 0x04: return _guestFeatures;
            case 0x08: return _queuePfn;
            case 0x0C: return _queueSelect == 0 ? QueueSize : 0u;
            case 0x0E: return _queueSelect;
            case 0x12: return _status;
            case 0x13:
                byte isr = _isr;
                _isr = 0; // read clears and lowers INTx
                _setIrq(_irq, false);
                return isr;
            default:
                if (offset < 0x14) return 0;
                Span<byte> config = stackalloc byte[24];
                DeviceConfig(config);
                return ConfigSpace.Read(config, offset - 0x14, size);
        }
    }

    public void Write(ushort port, int size, uint value)
    {
        switch (port - IoBase)
        {
            case 0x04: _guestFeatures = value & _hostFeatures; break;
            case 0x08:
                if (_queueSelect == 0)
                {
                    _queuePfn = value;
                    _lastAvail = 0;
                }
                break;
            case 0x0E: _queueSelect = (ushort)value; break;
            case 0x10:
                if (value == 0) ProcessQueue();
                break;
            case 0x12:
                _status = (byte)value;
                if (value == 0) Reset();
                break;
        }
    }

    // struct virtio_blk_config: u64 capacity, u32 size_max, u32 seg_max, geometry {u16, u8, u8}, u32 blk_size.
    private void DeviceConfig(Span<byte> config)
    {
        config.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(config, (ulong)(_disk.Length / 512));
        BinaryPrimitives.WriteUInt32LittleEndian(config[12..], QueueSize - 2);
        BinaryPrimitives.WriteUInt32LittleEndian(config[20..], 512);
    }

    private void Reset()
    {
        _guestFeatures = 0;
        _queuePfn = 0;
        _queueSelect = 0;
        _lastAvail = 0;
        _isr = 0;
        _setIrq(_irq, false);
    }

    // Legacy vring layout, align 4096: descriptors, avail {flags, idx, ring[N]}, used {flags, idx, {id, len}[N]}.
    private void ProcessQueue()
    {
        if (_queuePfn == 0) return;
        ulong ring = (ulong)_queuePfn << 12;
        ulong avail = ring + 16 * QueueSize;
        ulong used = (avail + 6 + 2 * QueueSize + 4095) & ~4095UL;
        bool completed = false;
        try
        {
            ushort availIdx = _memory.ReadUInt16(avail + 2);
            while (_lastAvail != availIdx)
            {
                ushort head = (ushort)(_memory.ReadUInt16(avail + 4 + 2UL * (ulong)(_lastAvail % QueueSize)) % QueueSize);
                _lastAvail++;
                uint written = Execute(ring, head);
                ushort usedIdx = _memory.ReadUInt16(used + 2);
                ulong element = used + 4 + 8UL * (ulong)(usedIdx % QueueSize);
                _memory.WriteUInt32(element, head);
                _memory.WriteUInt32(element + 4, written);
                _memory.WriteUInt16(used + 2, (ushort)(usedIdx + 1));
                completed = true;
            }
        }
        catch (GuestMemoryException)
        {
            _status |= 0x40; // DEVICE_NEEDS_RESET: the guest handed us a ring outside its memory
        }
        if (completed)
        {
            _isr |= 1;
            _setIrq(_irq, true);
        }
    }

    /// <summary>Runs one request chain; returns the bytes written into the guest's buffers (data + status).</summary>
    private uint Execute(ulong ring, ushort head)
    {
        Span<(ulong Address, uint Length, bool Writable)> chain = stackalloc (ulong, uint, bool)[QueueSize];
        int count = 0;
        for (ushort i = head; ;)
        {
            if (count == QueueSize) throw new GuestMemoryException(ring, 0); // a loop in the chain
            ulong desc = ring + 16UL * i;
            ushort flags = _memory.ReadUInt16(desc + 12);
            chain[count++] = (_memory.ReadUInt64(desc), _memory.ReadUInt32(desc + 8), (flags & DescWrite) != 0);
            if ((flags & DescNext) == 0) break;
            i = (ushort)(_memory.ReadUInt16(desc + 14) % QueueSize);
        }
        chain = chain[..count];

        Span<byte> header = stackalloc byte[16]; // {u32 type, u32 ioprio, u64 sector}
        int headerBytes = Gather(chain, header);
        int firstWritable = 0;
        while (firstWritable < chain.Length && !chain[firstWritable].Writable) firstWritable++;
        var last = chain[^1];
        if (headerBytes < 16 || !last.Writable || last.Length == 0) return 0;
        ulong statusAddress = last.Address + last.Length - 1;

        uint type = BinaryPrimitives.ReadUInt32LittleEndian(header);
        long offset = (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(header[8..]), long.MaxValue / 1024) * 512;
        byte status = StatusOk;
        uint written = 0;
        try
        {
            switch (type)
            {
                case TypeIn:
                    written = Transfer(chain[firstWritable..], offset, write: false);
                    break;
                case TypeOut:
                    if (_disk.IsReadOnly) status = StatusIoError;
                    else Transfer(chain[..firstWritable], offset, write: true, skip: 16);
                    break;
                case TypeFlush:
                    _disk.Flush();
                    break;
                case TypeGetId:
                    var id = System.Text.Encoding.ASCII.GetBytes(_serial.PadRight(20, '\0')[..20]);
                    written = Scatter(chain[firstWritable..], id);
                    break;
                default:
                    status = StatusUnsupported;
                    break;
            }
        }
        catch (Exception e) when (e is IOException or ImageFormatException or ArgumentException)
        {
            status = StatusIoError;
        }
        _memory.WriteByte(statusAddress, status);
        return written + 1;
    }

    // Moves data between the disk and the chain's buffers, leaving out the header (skip) and the status byte.
    private uint Transfer(ReadOnlySpan<(ulong Address, uint Length, bool Writable)> buffers, long offset, bool write, int skip = 0)
    {
        long total = 0;
        foreach (var b in buffers) total += b.Length;
        long dataBytes = total - skip - (write ? 0 : 1);
        if (dataBytes < 0 || dataBytes % 512 != 0 || offset > _disk.Length - dataBytes) throw new IOException("Request outside the disk");
        uint moved = 0;
        foreach (var (address, length, _) in buffers)
        {
            ulong a = address;
            long n = length;
            if (skip > 0)
            {
                int s = (int)Math.Min(skip, n);
                a += (ulong)s;
                n -= s;
                skip -= s;
            }
            n = Math.Min(n, dataBytes - moved);
            if (n <= 0) continue;
            var span = _memory.Span(a, (int)n);
            if (write) _disk.Write(offset, span);
            else _disk.Read(offset, span);
            offset += n;
            moved += (uint)n;
        }
        return moved;
    }

    private int Gather(ReadOnlySpan<(ulong Address, uint Length, bool Writable)> chain, Span<byte> into)
    {
        int filled = 0;
        foreach (var (address, length, writable) in chain)
        {
            if (writable || filled == into.Length) break;
            int n = (int)Math.Min(length, (uint)(into.Length - filled));
            _memory.Span(address, n).CopyTo(into[filled..]);
            filled += n;
        }
        return filled;
    }

    private uint Scatter(ReadOnlySpan<(ulong Address, uint Length, bool Writable)> chain, ReadOnlySpan<byte> data)
    {
        long room = -1;
        foreach (var c in chain) room += c.Length;
        data = data[..(int)Math.Clamp(room, 0, data.Length)];
        uint done = 0;
        foreach (var (address, length, _) in chain)
        {
            int n = (int)Math.Min(length, (uint)(data.Length - done));
            if (n <= 0) break;
            data.Slice((int)done, n).CopyTo(_memory.Span(address, n));
            done += (uint)n;
        }
        return done;
    }
}
