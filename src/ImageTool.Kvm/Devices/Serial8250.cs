using ImageTool.Kvm.Machine;

namespace ImageTool.Kvm.Devices;

/// <summary>
/// COM1 as an 8250/16450 without FIFO (KVM.md §4): transmit goes straight to the console, receive comes from
/// the console's input, the interrupt line follows (IER &amp; THRE pending) | (IER &amp; data ready).
/// </summary>
internal sealed class Serial8250 : IPortDevice
{
    public const ushort Base = 0x3F8;
    public const int Irq = 4;

    private readonly GuestConsole _console;
    private readonly Action<int, bool> _setIrq;
    private readonly Lock _lock = new();
    private byte _ier, _lcr, _mcr, _scr, _dll, _dlm;
    private bool _thrEmptyPending;
    private bool _irqLevel;

    public Serial8250(GuestConsole console, Action<int, bool> setIrq)
    {
        _console = console;
        _setIrq = setIrq;
        console.InputArrived += () =>
        {
            lock (_lock) UpdateIrq();
        };
    }

    private bool Dlab => (_lcr & 0x80) != 0;
    private bool Loopback => (_mcr & 0x10) != 0;

    public uint Read(ushort port, int size)
    {
        lock (_lock)
        {
            uint value = (port - Base) switch
            {
                0 when Dlab => _dll,
                0 => !Loopback && _console.TryTake(out byte b) ? b : 0u,
                1 when Dlab => _dlm,
                1 => _ier,
                2 => ReadIir(),
                3 => _lcr,
                4 => _mcr,
                5 => 0x60u | (DataReady ? 1u : 0u), // THRE | TEMT, never busy
                6 => Loopback ? LoopbackMsr() : 0xB0u, // DCD | DSR | CTS
                _ => _scr,
            };
            UpdateIrq();
            return value;
        }
    }

    public void Write(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        lock (_lock)
        {
            switch (port - Base)
            {
                case 0 when Dlab: _dll = v; break;
                case 0:
                    if (!Loopback) Transmit(v);
                    _thrEmptyPending = true; // sent at once: the holding register is empty again
                    break;
                case 1 when Dlab: _dlm = v; break;
                case 1:
                    if ((v & 2) != 0 && (_ier & 2) == 0) _thrEmptyPending = true;
                    _ier = (byte)(v & 0x0F);
                    break;
                case 3: _lcr = v; break;
                case 4: _mcr = v; break;
                case 7: _scr = v; break;
            }
            UpdateIrq();
        }
    }

    private bool DataReady => !Loopback && _console.TryPeek(out _);

    private uint ReadIir()
    {
        if ((_ier & 1) != 0 && DataReady) return 0x04;
        if ((_ier & 2) != 0 && _thrEmptyPending)
        {
            _thrEmptyPending = false; // reading IIR clears a THRE interrupt
            return 0x02;
        }
        return 0x01;
    }

    // In loopback the modem outputs feed the inputs: RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD (the kernel's probe checks it).
    private uint LoopbackMsr() => (uint)(((_mcr & 2) << 3) | ((_mcr & 1) << 5) | ((_mcr & 4) << 4) | ((_mcr & 8) << 4));

    private void Transmit(byte b)
    {
        _console.Output.WriteByte(b);
        if (b == '\n') _console.Output.Flush();
    }

    private void UpdateIrq()
    {
        bool level = ((_ier & 2) != 0 && _thrEmptyPending) || ((_ier & 1) != 0 && DataReady);
        if (level == _irqLevel) return;
        _irqLevel = level;
        _setIrq(Irq, level);
    }
}
