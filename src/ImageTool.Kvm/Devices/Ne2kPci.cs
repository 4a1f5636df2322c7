using System.Buffers.Binary;
using ImageTool.Kvm.Machine;
using ImageTool.Kvm.Network;

namespace ImageTool.Kvm.Devices;

/// <summary>
/// NE2000-compatible PCI NIC, Realtek RTL8029AS (qemu's <c>ne2k_pci</c>; NETWORK.md §2.3 and the DP8390D
/// datasheet): PCI 10ec:8029 with one 256-byte I/O BAR holding the DP8390 registers (0x00-0x0F, page chosen by
/// CR), the remote-DMA data port (0x10-0x17) and the reset port (0x18-0x1F, reset on read). The on-card memory
/// is qemu's: the doubled MAC PROM at 0x0000-0x001F and 32 KiB of packet RAM at 0x4000-0xBFFF. Frames from the
/// network go into the receive ring PSTART..PSTOP-1 behind a 4-byte header; a frame that does not fit waits in
/// the device (and the rest in the network) until the driver moves BNRY.
/// </summary>
internal sealed class Ne2kPci : IPortDevice, IPciFunction, IDisposable
{
    public const int BarSize = 0x100;

    /// <summary>
    /// The remote-DMA data port. Its writes only move bytes into card memory (and, at the end, set ISR.RDC), which
    /// the guest can only observe through another access, so the runner lets them queue in KVM's coalesced ring:
    /// a frame sent with <c>rep outsw</c> costs a few exits instead of one per word.
    /// </summary>
    public const int DataPort = 0x10, DataPortSize = 8;
    private const int RamStart = 0x4000, MemorySize = 0xC000;
    private const byte CrStop = 0x01, CrTransmit = 0x04, CrRemoteRead = 0x08, CrRemoteWrite = 0x10;
    private const byte IsrReceived = 0x01, IsrTransmitted = 0x02, IsrOverwrite = 0x10, IsrDmaComplete = 0x40, IsrReset = 0x80;
    private const byte RcrBroadcast = 0x04, RcrMulticast = 0x08, RcrPromiscuous = 0x10, RcrMonitor = 0x20;

    private readonly UserNetwork? _network;
    private readonly Action<int, bool> _setIrq;
    private readonly int _irq;
    private readonly byte[] _mac;
    private readonly byte[] _config = new byte[256];
    private readonly byte[] _memory = new byte[MemorySize];
    private readonly byte[] _par = new byte[6];
    private readonly byte[] _mar = new byte[8];
    private readonly Lock _lock = new();
    private byte _cr = CrStop | 0x20, _isr, _imr, _pstart, _pstop, _bnry, _curr, _tpsr, _rcr, _tcr, _dcr, _tsr, _rsr;
    private ushort _tbcr, _rsar, _rbcr;
    private byte[]? _held;
    private bool _irqLevel;

    public Ne2kPci(UserNetwork? network, byte[] mac, Action<int, bool> setIrq, int irq, ushort ioBase)
    {
        _network = network;
        _mac = mac;
        _setIrq = setIrq;
        _irq = irq;
        IoBase = ioBase;
        var c = _config.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(c, 0x802910EC);
        BinaryPrimitives.WriteUInt16LittleEndian(c[4..], 0x0001);  // I/O space on
        c[0x0B] = 0x02;                                            // class: network controller
        BinaryPrimitives.WriteUInt32LittleEndian(c[0x10..], ioBase | 1u);
        BinaryPrimitives.WriteUInt32LittleEndian(c[0x2C..], 0x11001AF4); // subsystem as qemu's
        c[0x3C] = (byte)irq;
        c[0x3D] = 1;
        mac.CopyTo(_par, 0);
        Reset();
        if (network != null) network.FrameReady += Deliver;
    }

    public ushort IoBase { get; }

    public uint ReadConfig(int register, int size)
    {
        lock (_lock) return ConfigSpace.Read(_config, register, size);
    }

    public void WriteConfig(int register, int size, uint value)
    {
        lock (_lock)
        {
            ConfigSpace.WriteHeader(_config, register, size, value, new ConfigSpace.Bar(0x10, BarSize, IoBase, Io: true));
        }
    }

    public uint Read(ushort port, int size)
    {
        int offset = port - IoBase;
        lock (_lock)
        {
            if (offset < 0x10) return ReadRegister(offset);
            if (offset < 0x18) return ReadData(size);
            Reset();
            _network?.Reset(); // a reset guest's connections go, as with the other NICs
            return 0;
        }
    }

    public void Write(ushort port, int size, uint value)
    {
        int offset = port - IoBase;
        byte[]? frame = null;
        bool deliver = false;
        lock (_lock)
        {
            if (offset < 0x10)
            {
                frame = WriteRegister(offset, (byte)value);
                deliver = offset is 0x00 or 0x03 or 0x07 or 0x0C; // the ring may have room again
            }
            else if (offset < 0x18) WriteData(size, value);
            // 0x18-0x1F: the write ending the reset pulse does nothing.
        }
        if (frame != null) _network?.Send(frame);
        if (deliver || frame != null) Deliver();
    }

    public void Dispose()
    {
        if (_network != null) _network.FrameReady -= Deliver;
    }

    // The card's reset: ISR.RST, the NIC stopped, the PROM rebuilt (each of its 16 bytes doubled for word access:
    // MAC, 8 zero bytes, "WW" for a 16-bit card), as qemu lays it out.
    private void Reset()
    {
        _isr = IsrReset;
        _cr = CrStop | 0x20;
        _held = null;
        Array.Clear(_memory, 0, 32);
        for (int i = 0; i < 6; i++) _memory[2 * i] = _memory[2 * i + 1] = _mac[i];
        _memory[28] = _memory[29] = _memory[30] = _memory[31] = 0x57;
        UpdateIrq();
    }

    private uint ReadRegister(int offset)
    {
        if (offset == 0) return _cr;
        int page = _cr >> 6;
        if (page == 1) return offset == 7 ? _curr : offset <= 6 ? _par[offset - 1] : _mar[offset - 8];
        if (page == 2)
        {
            return offset switch
            {
                1 => _pstart,
                2 => _pstop,
                4 => _tpsr,
                0x0C => _rcr,
                0x0D => _tcr,
                0x0E => _dcr,
                0x0F => _imr,
                _ => 0,
            };
        }
        if (page == 3) return 0; // RTL8029 configuration registers: 10BASE-T, nothing configured
        return offset switch
        {
            3 => _bnry,
            4 => _tsr,
            7 => _isr,
            8 => (byte)_rsar,
            9 => (byte)(_rsar >> 8),
            0x0A => 0x50, // RTL8029 id 'P'
            0x0B => 0x43, // 'C'
            0x0C => _rsr,
            _ => 0,
        };
    }

    /// <summary>Returns the frame to send when the write started a transmission.</summary>
    private byte[]? WriteRegister(int offset, byte value)
    {
        if (offset == 0) return WriteCommand(value);
        int page = _cr >> 6;
        if (page == 1)
        {
            if (offset <= 6) _par[offset - 1] = value;
            else if (offset == 7) _curr = value;
            else _mar[offset - 8] = value;
            return null;
        }
        if (page != 0) return null;
        switch (offset)
        {
            case 1: _pstart = value; break;
            case 2: _pstop = value; break;
            case 3: _bnry = value; break;
            case 4: _tpsr = value; break;
            case 5: _tbcr = (ushort)((_tbcr & 0xFF00) | value); break;
            case 6: _tbcr = (ushort)((_tbcr & 0x00FF) | value << 8); break;
            case 7: _isr &= (byte)~(value & 0x7F); break;
            case 8: _rsar = (ushort)((_rsar & 0xFF00) | value); break;
            case 9: _rsar = (ushort)((_rsar & 0x00FF) | value << 8); break;
            case 0x0A: _rbcr = (ushort)((_rbcr & 0xFF00) | value); break;
            case 0x0B: _rbcr = (ushort)((_rbcr & 0x00FF) | value << 8); break;
            case 0x0C: _rcr = value; break;
            case 0x0D: _tcr = value; break;
            case 0x0E: _dcr = value; break;
            case 0x0F: _imr = value; break;
        }
        UpdateIrq();
        return null;
    }

    // CR: starting clears ISR.RST; a remote DMA of zero bytes completes at once; TXP sends TBCR bytes from TPSR.
    private byte[]? WriteCommand(byte value)
    {
        _cr = value;
        byte[]? frame = null;
        if ((value & CrStop) == 0)
        {
            _isr &= unchecked((byte)~IsrReset);
            if ((value & (CrRemoteRead | CrRemoteWrite)) != 0 && _rbcr == 0) _isr |= IsrDmaComplete;
            if ((value & CrTransmit) != 0)
            {
                int start = _tpsr << 8;
                if (start >= RamStart && start + _tbcr <= MemorySize && _tbcr > 0) frame = _memory.AsSpan(start, _tbcr).ToArray();
                _cr &= unchecked((byte)~CrTransmit);
                _tsr = 0x01; // PTX
                _isr |= IsrTransmitted;
            }
        }
        UpdateIrq();
        return frame;
    }

    // The data port: 1 byte per access, 2 with DCR.WTS, 4 on a 32-bit access; RSAR wraps from PSTOP to PSTART.
    private uint ReadData(int size)
    {
        int count = size == 4 ? 4 : (_dcr & 1) != 0 ? 2 : 1;
        uint value = 0;
        for (int i = 0; i < count; i++) value |= (uint)MemoryByte(_rsar + i) << (8 * i);
        AdvanceDma(count);
        return value;
    }

    private void WriteData(int size, uint value)
    {
        int count = size == 4 ? 4 : (_dcr & 1) != 0 ? 2 : 1;
        for (int i = 0; i < count; i++)
        {
            int address = _rsar + i;
            if (address >= RamStart && address < MemorySize) _memory[address] = (byte)(value >> (8 * i));
        }
        AdvanceDma(count);
    }

    private byte MemoryByte(int address) => address < 32 || (address >= RamStart && address < MemorySize) ? _memory[address] : (byte)0xFF;

    private void AdvanceDma(int count)
    {
        _rsar = (ushort)(_rsar + count);
        if (_rsar == _pstop << 8) _rsar = (ushort)(_pstart << 8);
        if (_rbcr <= count)
        {
            if (_rbcr != 0 || (_isr & IsrDmaComplete) == 0)
            {
                _rbcr = 0;
                _isr |= IsrDmaComplete;
                UpdateIrq();
            }
        }
        else _rbcr = (ushort)(_rbcr - count);
    }

    private void UpdateIrq()
    {
        bool level = (_isr & _imr & 0x7F) != 0;
        if (level == _irqLevel) return;
        _irqLevel = level;
        _setIrq(_irq, level);
    }

    // Receive: frames the filter accepts go into the ring while there is room; the first that does not fit is
    // held here, so nothing is lost while the driver catches up.
    private void Deliver()
    {
        if (_network == null) return;
        lock (_lock)
        {
            bool any = false;
            while (true)
            {
                if ((_cr & CrStop) != 0 || !RingValid) break;
                if (_held == null && !_network.TryTake(out _held)) break;
                var frame = _held;
                if ((_rcr & RcrMonitor) != 0 || !Accepts(frame))
                {
                    _held = null;
                    continue;
                }
                if (!Store(frame))
                {
                    if (_held != null) break; // no room yet
                    continue;                 // dropped: larger than the whole ring
                }
                _held = null;
                any = true;
            }
            if (any)
            {
                _isr |= IsrReceived;
                UpdateIrq();
            }
        }
    }

    private bool RingValid => _pstart << 8 >= RamStart && _pstop << 8 <= MemorySize && _pstart < _pstop
        && _curr >= _pstart && _curr < _pstop && _bnry >= _pstart && _bnry < _pstop;

    private bool Accepts(byte[] frame)
    {
        if ((_rcr & RcrPromiscuous) != 0) return true;
        var destination = frame.AsSpan(0, 6);
        if (destination.SequenceEqual(Packet.Broadcast)) return (_rcr & RcrBroadcast) != 0;
        if ((destination[0] & 1) != 0)
        {
            int bit = MulticastHashBit(destination);
            return (_rcr & RcrMulticast) != 0 && (_mar[bit >> 3] & (1 << (bit & 7))) != 0;
        }
        return destination.SequenceEqual(_par);
    }

    // The DP8390 hashes a multicast address with the Ethernet CRC-32 and indexes MAR by its top six bits.
    private static int MulticastHashBit(ReadOnlySpan<byte> address)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in address)
        {
            for (int i = 0; i < 8; i++)
            {
                bool carry = ((crc >> 31) ^ (uint)((b >> i) & 1)) != 0;
                crc <<= 1;
                if (carry) crc ^= 0x04C11DB7;
            }
        }
        return (int)(crc >> 26);
    }

    // Header {RSR, next page, byte count = frame + 4} at CURR, the frame after it, wrapping at PSTOP; the frame
    // must not reach the page at BNRY (the driver's next unread page is BNRY+1).
    private bool Store(byte[] frame)
    {
        int length = Math.Max(Math.Min(frame.Length, 1514), 60);
        int total = length + 4, pages = (total + 255) >> 8, ring = _pstop - _pstart;
        int free = _curr < _bnry ? _bnry - _curr : ring - (_curr - _bnry);
        if (pages >= free)
        {
            if (pages >= ring) _held = null; // can never fit: drop it rather than stall
            return false;
        }
        int next = _curr + pages;
        if (next >= _pstop) next -= ring;
        bool multicast = (frame[0] & 1) != 0;
        _rsr = (byte)(0x01 | (multicast ? 0x20 : 0));
        Span<byte> data = new byte[total];
        data[0] = _rsr;
        data[1] = (byte)next;
        BinaryPrimitives.WriteUInt16LittleEndian(data[2..], (ushort)total);
        frame.AsSpan(0, Math.Min(frame.Length, length)).CopyTo(data[4..]);
        int address = _curr << 8;
        foreach (byte b in data)
        {
            _memory[address++] = b;
            if (address == _pstop << 8) address = _pstart << 8;
        }
        _curr = (byte)next;
        return true;
    }
}
