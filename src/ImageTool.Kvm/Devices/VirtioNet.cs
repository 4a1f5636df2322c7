using System.Buffers.Binary;
using ImageTool.Kvm.Machine;
using ImageTool.Kvm.Network;

namespace ImageTool.Kvm.Devices;

/// <summary>
/// Legacy (virtio 0.9.5) virtio-net PCI function 1af4:1000 (NETWORK.md §2.1): I/O BAR with the common header and
/// the MAC/status config at 0x14, queue 0 receive, queue 1 transmit, features MAC, STATUS and MRG_RXBUF.
/// Frames the guest posts go to the user-mode network on the notify write; frames from the network fill the
/// receive buffers when the network has some or when the guest posts buffers, and wait in the network (never
/// dropped) while there are none.
/// </summary>
internal sealed class VirtioNet : IPortDevice, IPciFunction, IDisposable
{
    public const int BarSize = 0x20;
    private const ushort QueueSize = 256;
    private const uint FeatureMac = 1 << 5, FeatureMergeable = 1 << 15, FeatureStatus = 1 << 16;
    private const int MaxChain = QueueSize;

    private readonly GuestMemory _memory;
    private readonly UserNetwork? _network;
    private readonly Action<int, bool> _setIrq;
    private readonly int _irq;
    private readonly byte[] _mac;
    private readonly byte[] _config = new byte[256];
    private readonly Vring _rx, _tx;
    private readonly Lock _lock = new();
    private readonly (ulong Address, uint Length, bool Writable)[] _chain = new (ulong, uint, bool)[MaxChain]; // under _lock
    private uint _guestFeatures;
    private ushort _queueSelect;
    private byte _status, _isr;

    public VirtioNet(GuestMemory memory, UserNetwork? network, byte[] mac, Action<int, bool> setIrq, int irq, ushort ioBase)
    {
        _memory = memory;
        _network = network;
        _mac = mac;
        _setIrq = setIrq;
        _irq = irq;
        IoBase = ioBase;
        _rx = new Vring(memory, QueueSize);
        _tx = new Vring(memory, QueueSize);
        var c = _config.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(c, 0x10001AF4);   // vendor, device (legacy network)
        BinaryPrimitives.WriteUInt16LittleEndian(c[4..], 0x0001);  // command: I/O space on
        c[0x0B] = 0x02;                                            // class: network controller
        BinaryPrimitives.WriteUInt32LittleEndian(c[0x10..], ioBase | 1u);
        BinaryPrimitives.WriteUInt32LittleEndian(c[0x2C..], 0x00011AF4); // subsystem: 1af4, id 1 = network
        c[0x3C] = (byte)irq;
        c[0x3D] = 1;
        if (network != null) network.FrameReady += Deliver;
    }

    public ushort IoBase { get; }

    private int HeaderSize => (_guestFeatures & FeatureMergeable) != 0 ? 12 : 10;

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
        lock (_lock)
        {
            int offset = port - IoBase;
            switch (offset)
            {
                case 0x00: return FeatureMac | FeatureStatus | FeatureMergeable;
                case 0x04: return _guestFeatures;
                case 0x08: return Queue()?.Pfn ?? 0;
                case 0x0C: return Queue() != null ? QueueSize : 0u;
                case 0x0E: return _queueSelect;
                case 0x12: return _status;
                case 0x13:
                    byte isr = _isr;
                    _isr = 0;
                    _setIrq(_irq, false);
                    return isr;
                default:
                    if (offset < 0x14) return 0;
                    Span<byte> config = stackalloc byte[8];
                    _mac.CopyTo(config);
                    BinaryPrimitives.WriteUInt16LittleEndian(config[6..], 1); // LINK_UP
                    return ConfigSpace.Read(config, offset - 0x14, size);
            }
        }
    }

    public void Write(ushort port, int size, uint value)
    {
        List<byte[]>? frames = null;
        lock (_lock)
        {
            switch (port - IoBase)
            {
                case 0x04: _guestFeatures = value & (FeatureMac | FeatureStatus | FeatureMergeable); break;
                case 0x08: Queue()?.SetPfn(value); break;
                case 0x0E: _queueSelect = (ushort)value; break;
                case 0x10:
                    if (value == 1) frames = Transmit();
                    break;
                case 0x12:
                    _status = (byte)value;
                    if (value == 0) Reset();
                    break;
            }
        }
        if (frames != null)
        {
            foreach (var frame in frames) _network?.Send(frame);
        }
        Deliver(); // a receive notify posted buffers; a transmit may have produced answers
    }

    public void Dispose()
    {
        if (_network != null) _network.FrameReady -= Deliver;
    }

    private Vring? Queue() => _queueSelect switch { 0 => _rx, 1 => _tx, _ => null };

    private void Reset()
    {
        _guestFeatures = 0;
        _queueSelect = 0;
        _rx.Reset();
        _tx.Reset();
        _isr = 0;
        _setIrq(_irq, false);
        _network?.Reset();
    }

    private void Fault()
    {
        _status |= 0x40; // DEVICE_NEEDS_RESET: a ring outside guest memory or a descriptor loop
        _rx.Reset();
        _tx.Reset();
    }

    private void Interrupt(Vring ring)
    {
        if (ring.InterruptSuppressed) return;
        _isr |= 1;
        _setIrq(_irq, true);
    }

    // Each chain is header + frame in readable buffers; the header is skipped (no offloads are offered).
    private List<byte[]> Transmit()
    {
        var frames = new List<byte[]>();
        if (!_tx.Ready) return frames;
        Span<(ulong Address, uint Length, bool Writable)> chain = _chain;
        try
        {
            bool any = false;
            while (_tx.HasAvailable)
            {
                int count = _tx.Next(out ushort head, chain);
                long total = 0;
                for (int i = 0; i < count; i++) total += chain[i].Writable ? 0 : chain[i].Length;
                int skip = HeaderSize;
                if (total > skip && total <= 65535 + skip)
                {
                    var frame = new byte[total - skip];
                    int filled = 0;
                    for (int i = 0; i < count; i++)
                    {
                        if (chain[i].Writable) continue;
                        ulong address = chain[i].Address;
                        int length = (int)chain[i].Length;
                        int s = Math.Min(skip, length);
                        skip -= s;
                        _memory.Span(address + (ulong)s, length - s).CopyTo(frame.AsSpan(filled));
                        filled += length - s;
                    }
                    frames.Add(frame);
                }
                _tx.Complete(head, 0);
                any = true;
            }
            if (any) Interrupt(_tx);
        }
        catch (GuestMemoryException)
        {
            Fault();
        }
        return frames;
    }

    // Fills receive buffers while both frames and buffers are there. With MRG_RXBUF a frame may take several
    // chains (num_buffers in the first header); without it, one chain must hold header + frame.
    private void Deliver()
    {
        if (_network == null) return;
        lock (_lock)
        {
            if ((_status & 4) == 0 || (_status & 0x40) != 0 || !_rx.Ready) return; // DRIVER_OK not set yet
            Span<(ulong Address, uint Length, bool Writable)> chain = _chain;
            bool any = false;
            try
            {
                while (true)
                {
                    if (!_rx.HasAvailable)
                    {
                        // Starved with frames waiting: ask for the driver's notify, then look again in case
                        // it posted buffers before it could see the request.
                        if (_network.Pending == 0) break;
                        _rx.SuppressNotifications(false);
                        if (!_rx.HasAvailable) break;
                    }
                    _rx.SuppressNotifications(true);
                    if (!_network.TryTake(out var frame)) break;
                    var data = new byte[HeaderSize + Math.Max(frame.Length, 60)];
                    frame.CopyTo(data, HeaderSize);
                    int offset = 0;
                    ushort buffers = 0;
                    ulong firstHeader = ulong.MaxValue;
                    while (offset < data.Length && _rx.HasAvailable)
                    {
                        int count = _rx.Next(out ushort head, chain);
                        uint written = 0;
                        for (int i = 0; i < count && offset < data.Length; i++)
                        {
                            if (!chain[i].Writable) continue;
                            int n = (int)Math.Min(chain[i].Length, (uint)(data.Length - offset));
                            if (firstHeader == ulong.MaxValue && n >= HeaderSize) firstHeader = chain[i].Address;
                            _memory.Write(chain[i].Address, data.AsSpan(offset, n));
                            offset += n;
                            written += (uint)n;
                        }
                        _rx.Complete(head, written);
                        buffers++;
                        if ((_guestFeatures & FeatureMergeable) == 0) break;
                    }
                    if (HeaderSize == 12 && firstHeader != ulong.MaxValue) _memory.WriteUInt16(firstHeader + 10, buffers);
                    any = true;
                }
            }
            catch (GuestMemoryException)
            {
                Fault();
            }
            if (any) Interrupt(_rx);
        }
    }
}
