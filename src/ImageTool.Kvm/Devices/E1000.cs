using System.Buffers.Binary;
using ImageTool.Kvm.Machine;
using ImageTool.Kvm.Network;

namespace ImageTool.Kvm.Devices;

/// <summary>
/// Intel 82540EM ("e1000", qemu's default NIC; NETWORK.md §2.2): PCI 8086:100e with all registers in a 128 KiB
/// MMIO BAR0 and the IOADDR/IODATA window in I/O BAR1; Microwire/EERD EEPROM, an 88E1011-like PHY over MDIC,
/// legacy receive descriptors, legacy and extended (context + data, checksum offload and TSO) transmit
/// descriptors, INTx while ICR &amp; IMS. Frames wait in the network while the receive ring is full.
/// </summary>
internal sealed class E1000 : IMmioDevice, IPortDevice, IPciFunction, IDisposable
{
    public const int MmioSize = 0x20000, IoSize = 0x40;
    private const int Ctrl = 0x0, Status = 0x8, Eecd = 0x10, Eerd = 0x14, Mdic = 0x20, Icr = 0xC0, Ics = 0xC8, Ims = 0xD0, Imc = 0xD8;
    private const int Rctl = 0x100, Tctl = 0x400, Rdbal = 0x2800, Rdbah = 0x2804, Rdlen = 0x2808, Rdh = 0x2810, Rdt = 0x2818;
    private const int Tdbal = 0x3800, Tdbah = 0x3804, Tdlen = 0x3808, Tdh = 0x3810, Tdt = 0x3818, Ral0 = 0x5400, Rah0 = 0x5404;
    private const uint IcrTxdw = 1, IcrTxqe = 2, IcrLsc = 4, IcrRxt0 = 0x80;
    private const int MaxPacket = 65536 + 1024;

    private readonly GuestMemory _memory;
    private readonly UserNetwork? _network;
    private readonly Action<int, bool> _setIrq;
    private readonly int _irq;
    private readonly byte[] _mac;
    private readonly byte[] _config = new byte[256];
    private readonly uint[] _regs = new uint[MmioSize / 4];
    private readonly ushort[] _phy = new ushort[32];
    private readonly E1000Eeprom _eeprom;
    private readonly Lock _lock = new();
    private readonly MemoryStream _packet = new();
    private E1000Context _context = new(0, 0, 0, 0, 0, 0, false, 0, 0);
    private bool _irqLevel;
    private uint _ioAddress;

    public E1000(GuestMemory memory, UserNetwork? network, byte[] mac, Action<int, bool> setIrq, int irq, uint mmioBase, ushort ioBase)
    {
        _memory = memory;
        _network = network;
        _mac = mac;
        _setIrq = setIrq;
        _irq = irq;
        MmioBase = mmioBase;
        IoBase = ioBase;
        _eeprom = new E1000Eeprom(mac);
        var c = _config.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(c, 0x100E8086);
        BinaryPrimitives.WriteUInt16LittleEndian(c[4..], 0x0007);  // I/O, memory, bus master
        c[0x08] = 0x03;
        c[0x0B] = 0x02;
        BinaryPrimitives.WriteUInt32LittleEndian(c[0x10..], mmioBase);
        BinaryPrimitives.WriteUInt32LittleEndian(c[0x14..], ioBase | 1u);
        BinaryPrimitives.WriteUInt32LittleEndian(c[0x2C..], 0x11001AF4);
        c[0x3C] = (byte)irq;
        c[0x3D] = 1;
        Reset();
        if (network != null) network.FrameReady += Deliver;
    }

    public uint MmioBase { get; }

    public ushort IoBase { get; }

    public uint ReadConfig(int register, int size)
    {
        lock (_lock) return ConfigSpace.Read(_config, register, size);
    }

    public void WriteConfig(int register, int size, uint value)
    {
        lock (_lock)
        {
            ConfigSpace.WriteHeader(_config, register, size, value,
                new ConfigSpace.Bar(0x10, MmioSize, MmioBase, Io: false), new ConfigSpace.Bar(0x14, IoSize, IoBase, Io: true));
        }
    }

    public uint Read(ulong offset, int size)
    {
        uint value;
        lock (_lock) value = ReadRegister((int)offset & ~3);
        return value >> (8 * ((int)offset & 3));
    }

    public void Write(ulong offset, int size, uint value)
    {
        bool transmit;
        lock (_lock) transmit = WriteRegister((int)offset & ~3, size >= 4 ? value : Merge((int)offset, size, value));
        if (transmit) Transmit();
        Deliver();
    }

    // The I/O window: +0 IOADDR (register offset), +4 IODATA (that register).
    public uint Read(ushort port, int size)
    {
        int offset = port - IoBase;
        if (offset < 4) return _ioAddress;
        if (offset < 8) return Read(_ioAddress & (MmioSize - 1), 4);
        return 0;
    }

    public void Write(ushort port, int size, uint value)
    {
        int offset = port - IoBase;
        if (offset < 4) _ioAddress = value;
        else if (offset < 8) Write(_ioAddress & (MmioSize - 1), 4, value);
    }

    public void Dispose()
    {
        if (_network != null) _network.FrameReady -= Deliver;
    }

    private uint Merge(int offset, int size, uint value)
    {
        int shift = 8 * (offset & 3);
        uint mask = (size == 1 ? 0xFFu : 0xFFFFu) << shift;
        return (_regs[(offset & (MmioSize - 1)) >> 2] & ~mask) | (value << shift & mask);
    }

    private void Reset()
    {
        Array.Clear(_regs);
        _regs[Status >> 2] = 0x80 | 2 | 1;    // 1000 Mb/s, link up, full duplex
        _regs[Ctrl >> 2] = 0x40 | 1;          // SLU, FD
        _regs[Ral0 >> 2] = BinaryPrimitives.ReadUInt32LittleEndian(_mac);
        _regs[Rah0 >> 2] = BinaryPrimitives.ReadUInt16LittleEndian(_mac.AsSpan(4)) | 0x80000000u;
        _regs[0x1000 >> 2] = 0x30;            // PBA
        Array.Clear(_phy);
        _phy[0] = 0x1140;                     // autoneg enabled, full duplex, 1000 Mb/s
        _phy[1] = 0x796D;                     // link up, autoneg complete
        _phy[2] = 0x0141;
        _phy[3] = 0x0C20;
        _phy[4] = 0x0DE1;
        _phy[5] = 0xCDE1;
        _phy[9] = 0x0E00;
        _phy[10] = 0x3800;
        _phy[0x10] = 0x0360;
        _phy[0x11] = 0xAC00;
        _packet.SetLength(0);
        UpdateIrq();
    }

    private uint ReadRegister(int offset)
    {
        offset &= MmioSize - 1;
        switch (offset)
        {
            case Eecd: return _eeprom.ReadControl();
            case Icr:
                uint icr = _regs[Icr >> 2];
                _regs[Icr >> 2] = 0;
                UpdateIrq();
                return icr;
            case Ims: return _regs[Ims >> 2];
            case >= 0x4000 and < 0x4100:
                return 0; // statistics: read-to-clear counters, none kept
            default: return _regs[offset >> 2];
        }
    }

    /// <summary>Returns true when the write rang the transmit doorbell.</summary>
    private bool WriteRegister(int offset, uint value)
    {
        offset &= MmioSize - 1;
        switch (offset)
        {
            case Ctrl:
                if ((value & (1u << 26)) != 0)
                {
                    Reset();
                    _network?.Reset();
                    _regs[Icr >> 2] |= IcrLsc;
                    return false;
                }
                _regs[Ctrl >> 2] = value & ~(1u << 31);
                return false;
            case Status: return false;
            case Eecd: _eeprom.WriteControl(value); return false;
            case Eerd:
                _regs[Eerd >> 2] = (value & 1) != 0 ? (uint)_eeprom.Word((int)(value >> 8) & 0xFF) << 16 | 0x10 | (value & 0xFF00) : value;
                return false;
            case Mdic: _regs[Mdic >> 2] = Mdio(value); return false;
            case Icr: _regs[Icr >> 2] &= ~value; break;
            case Ics: _regs[Icr >> 2] |= value; break;
            case Ims: _regs[Ims >> 2] |= value; break;
            case Imc: _regs[Ims >> 2] &= ~value; break;
            case Rdh or Rdt or Tdh: _regs[offset >> 2] = value & 0xFFFF; return false;
            case Tdt:
                _regs[Tdt >> 2] = value & 0xFFFF;
                return true;
            case Tctl:
                _regs[Tctl >> 2] = value;
                return true;
            default: _regs[offset >> 2] = value; return false;
        }
        UpdateIrq();
        return false;
    }

    // MDIC: DATA b0-15, REGADD b16-20, PHYADD b21-25, OP b26-27 (01 write, 10 read); READY b28, ERROR b30.
    private uint Mdio(uint value)
    {
        int register = (int)(value >> 16) & 0x1F, phy = (int)(value >> 21) & 0x1F, op = (int)(value >> 26) & 3;
        if (phy != 1) return value | 1u << 30 | 1u << 28;
        if (op == 2) return (value & 0xFFFF0000) | _phy[register] | 1u << 28;
        if (op == 1)
        {
            ushort data = (ushort)value;
            if (register == 0)
            {
                data &= 0x7DFF;   // reset and restart-autoneg bits clear themselves
                _phy[1] |= 0x0024; // autonegotiation complete, link up
            }
            if (register is not (1 or 2 or 3 or 5 or 10 or 0x11)) _phy[register] = data;
        }
        return value | 1u << 28;
    }

    private void UpdateIrq()
    {
        bool level = (_regs[Icr >> 2] & _regs[Ims >> 2]) != 0;
        if (level == _irqLevel) return;
        _irqLevel = level;
        _setIrq(_irq, level);
    }

    private ulong Ring(int low, int high) => _regs[low >> 2] | (ulong)_regs[high >> 2] << 32;

    // Walks TDH..TDT-1: legacy descriptors, context descriptors and data descriptors; DD written back on each.
    private void Transmit()
    {
        var frames = new List<byte[]>();
        lock (_lock)
        {
            if ((_regs[Tctl >> 2] & 2) == 0) return;
            uint count = _regs[Tdlen >> 2] / 16;
            if (count == 0) return;
            ulong ring = Ring(Tdbal, Tdbah);
            bool any = false;
            try
            {
                for (uint guard = 0; _regs[Tdh >> 2] % count != _regs[Tdt >> 2] % count && guard < count; guard++)
                {
                    uint head = _regs[Tdh >> 2] % count;
                    ulong desc = ring + 16UL * head;
                    var d = _memory.Span(desc, 16);
                    byte command = d[11];
                    bool extended = (command & 0x20) != 0;
                    int type = (d[10] >> 4) & 0xF;
                    if (extended && type == 0) _context = E1000Context.Read(d);
                    else
                    {
                        ulong address = BinaryPrimitives.ReadUInt64LittleEndian(d);
                        int length = extended ? (int)(BinaryPrimitives.ReadUInt32LittleEndian(d[8..]) & 0xFFFFF) : BinaryPrimitives.ReadUInt16LittleEndian(d[8..]);
                        if (_packet.Length + length <= MaxPacket && length > 0) _packet.Write(_memory.Span(address, length));
                        if ((command & 1) != 0) frames.AddRange(Finish(d, extended));
                    }
                    d[12] |= 1; // DD
                    _regs[Tdh >> 2] = (head + 1) % count;
                    any = true;
                }
            }
            catch (GuestMemoryException)
            {
                _packet.SetLength(0);
            }
            if (any)
            {
                _regs[Icr >> 2] |= IcrTxdw | IcrTxqe;
                UpdateIrq();
            }
        }
        foreach (var frame in frames) _network?.Send(frame);
    }

    // End of packet: legacy checksum (IC: CSO/CSS), extended POPTS checksums, or TSE segmentation.
    private IEnumerable<byte[]> Finish(ReadOnlySpan<byte> last, bool extended)
    {
        var packet = _packet.ToArray();
        _packet.SetLength(0);
        if (!extended)
        {
            if ((last[11] & 4) != 0 && last[10] + 2 <= packet.Length && last[13] < packet.Length)
            {
                int css = last[13], cso = last[10];
                BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(cso), 0);
                BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(cso), Checksum.Compute(packet.AsSpan(css)));
            }
            return [packet];
        }
        bool ip = (last[13] & 1) != 0, transport = (last[13] & 2) != 0;
        if ((last[11] & 4) != 0) return _context.Segment(packet, ip, transport).ToList();
        _context.Checksum(packet, ip, transport);
        return [packet];
    }

    // Receive: each frame (padded to 60) into descriptors from RDH, DD|EOP (+IXSM) on the last, RXT0.
    private void Deliver()
    {
        if (_network == null) return;
        lock (_lock)
        {
            if ((_regs[Rctl >> 2] & 2) == 0) return;
            uint count = _regs[Rdlen >> 2] / 16;
            if (count == 0) return;
            ulong ring = Ring(Rdbal, Rdbah);
            uint rctl = _regs[Rctl >> 2];
            int bufferSize = ((rctl >> 16) & 3) switch { 0 => 2048, 1 => 1024, 2 => 512, _ => 256 } * ((rctl & (1u << 25)) != 0 && ((rctl >> 16) & 3) != 0 ? 16 : 1);
            bool any = false;
            try
            {
                while (true)
                {
                    uint head = _regs[Rdh >> 2] % count, tail = _regs[Rdt >> 2] % count;
                    uint free = (tail + count - head) % count;
                    if (free == 0 || free * (uint)bufferSize < 1522) break;
                    if (!_network.TryTake(out var frame)) break;
                    int length = Math.Max(frame.Length, 60);
                    var data = new byte[length];
                    frame.CopyTo(data, 0);
                    for (int offset = 0; offset < length;)
                    {
                        ulong desc = ring + 16UL * head;
                        var d = _memory.Span(desc, 16);
                        int n = Math.Min(bufferSize, length - offset);
                        _memory.Write(BinaryPrimitives.ReadUInt64LittleEndian(d), data.AsSpan(offset, n));
                        offset += n;
                        BinaryPrimitives.WriteUInt16LittleEndian(d[8..], (ushort)n);
                        BinaryPrimitives.WriteUInt16LittleEndian(d[10..], 0);
                        d[12] = (byte)(1 | 4 | (offset == length ? 2 : 0)); // DD, IXSM, EOP on the last
                        d[13] = 0;
                        head = (head + 1) % count;
                    }
                    _regs[Rdh >> 2] = head;
                    any = true;
                }
            }
            catch (GuestMemoryException)
            {
                _regs[Rctl >> 2] &= ~2u; // a ring outside guest memory: stop receiving until the driver sets it up again
            }
            if (any)
            {
                _regs[Icr >> 2] |= IcrRxt0;
                UpdateIrq();
            }
        }
    }
}
