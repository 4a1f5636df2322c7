using System.Runtime.InteropServices;
using ImageTool.Kvm.Interop;

namespace ImageTool.Kvm;

/// <summary>
/// stdin/stdout as the guest console, like qemu's <c>-nographic</c>: a terminal is put in raw mode (restored at
/// dispose), Ctrl-A x quits, Ctrl-A a sends Ctrl-A. SIGTERM and SIGHUP quit the same way, so the terminal is
/// restored then too.
/// </summary>
public sealed unsafe class TerminalConsole : GuestConsole
{
    private const int TermiosSize = 60;
    private const int CtrlA = 1;
    private readonly byte[]? _savedTermios;
    private readonly Thread _reader;
    private readonly PosixSignalRegistration[] _signals;
    private volatile bool _stopping;

    public TerminalConsole() : base(Console.OpenStandardOutput())
    {
        if (LibC.IsATty(0) == 1)
        {
            _savedTermios = new byte[TermiosSize];
            fixed (byte* t = _savedTermios)
            {
                if (LibC.TcGetAttr(0, t) == 0) MakeRaw();
                else _savedTermios = null;
            }
        }
        _signals = [PosixSignalRegistration.Create(PosixSignal.SIGTERM, Quit), PosixSignalRegistration.Create(PosixSignal.SIGHUP, Quit)];
        _reader = new Thread(ReadInput) { IsBackground = true, Name = "guest console input" };
        _reader.Start();
    }

    private void Quit(PosixSignalContext context)
    {
        context.Cancel = true;
        RequestQuit();
    }

    // cfmakeraw's input and local flags, keeping output processing so "\n" still returns the carriage.
    private void MakeRaw()
    {
        byte* raw = stackalloc byte[TermiosSize];
        _savedTermios.AsSpan().CopyTo(new Span<byte>(raw, TermiosSize));
        uint* flags = (uint*)raw; // c_iflag, c_oflag, c_cflag, c_lflag
        flags[0] &= ~(0x1u | 0x2u | 0x8u | 0x20u | 0x40u | 0x80u | 0x100u | 0x400u); // IGNBRK BRKINT PARMRK ISTRIP INLCR IGNCR ICRNL IXON
        flags[3] &= ~(0x8u | 0x40u | 0x2u | 0x1u | 0x8000u); // ECHO ECHONL ICANON ISIG IEXTEN
        raw[17 + 6] = 1; // c_cc[VMIN]
        raw[17 + 5] = 0; // c_cc[VTIME]
        LibC.TcSetAttr(0, 0, raw);
    }

    private void ReadInput()
    {
        byte* buffer = stackalloc byte[256];
        var poll = new LibC.PollFd { Fd = 0, Events = 1 };
        bool escape = false;
        while (!_stopping)
        {
            poll.Revents = 0;
            if (LibC.Poll(&poll, 1, 100) <= 0) continue;
            nint n = LibC.Read(0, buffer, 256);
            if (n <= 0) return;
            for (int i = 0; i < n; i++)
            {
                byte b = buffer[i];
                if (escape)
                {
                    escape = false;
                    if (b == 'x')
                    {
                        RequestQuit();
                        return;
                    }
                    if (b != CtrlA) continue;
                }
                else if (b == CtrlA)
                {
                    escape = true;
                    continue;
                }
                Type([b]);
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        _stopping = true;
        foreach (var registration in _signals) registration.Dispose();
        if (_savedTermios != null)
        {
            fixed (byte* t = _savedTermios) LibC.TcSetAttr(0, 0, t);
        }
        if (disposing) Output.Flush();
        base.Dispose(disposing);
    }
}
