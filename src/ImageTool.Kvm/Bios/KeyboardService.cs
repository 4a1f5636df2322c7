namespace ImageTool.Kvm.Bios;

/// <summary>
/// INT 16h fed from the console: bytes become (scan code, ASCII) pairs, ANSI arrow sequences become arrow
/// keys. A blocking read with nothing typed returns to the INT instruction, so the guest's timer keeps
/// ticking while it waits.
/// </summary>
internal sealed class KeyboardService(GuestConsole console, Func<bool> stopping)
{
    private const int WaitMs = 20;
    private readonly Queue<ushort> _keys = new();

    public void Handle(BiosCall call)
    {
        ref var r = ref call.Regs;
        switch (r.Ah)
        {
            case 0x00 or 0x10:
                if (Next(wait: true) != null) r.Ax = _keys.Dequeue();
                else RepeatInt(call);
                break;
            case 0x01 or 0x11:
                if (Next(wait: false) is { } peeked)
                {
                    r.Ax = peeked;
                    call.Zero = false;
                }
                else call.Zero = true;
                break;
            case 0x02: r.Al = 0; break;
            case 0x12: r.Ax = 0; break;
            case 0x05:
                _keys.Enqueue(r.Cx);
                r.Al = 0;
                break;
        }
    }

    private ushort? Next(bool wait)
    {
        Translate();
        if (_keys.Count == 0 && wait && !stopping() && console.WaitForInput(WaitMs)) Translate();
        return _keys.Count > 0 ? _keys.Peek() : null;
    }

    // The stub IRETs to the caller's IP; moving it back over "INT 16h" (CD 16) makes the guest ask again.
    private static void RepeatInt(BiosCall call)
    {
        ulong ipAt = call.ReturnFrame;
        call.Memory.WriteUInt16(ipAt, (ushort)(call.Memory.ReadUInt16(ipAt) - 2));
    }

    // Takes one key from the console at a time (the serial port reads the same input), folding ESC [ X into an arrow key.
    private void Translate()
    {
        if (_keys.Count > 0 || !console.TryTake(out byte b)) return;
        if (b == 0x1B && console.TryPeek(out byte next) && next == '[')
        {
            console.TryTake(out _);
            if (console.TryPeek(out byte final) && Arrow(final) is { } arrow)
            {
                console.TryTake(out _);
                _keys.Enqueue(arrow);
                return;
            }
            _keys.Enqueue(Key(b));
            _keys.Enqueue(Key((byte)'['));
            return;
        }
        _keys.Enqueue(Key(b));
    }

    private static ushort? Arrow(byte final) => final switch
    {
        (byte)'A' => 0x4800,
        (byte)'B' => 0x5000,
        (byte)'C' => 0x4D00,
        (byte)'D' => 0x4B00,
        (byte)'H' => 0x4700,
        (byte)'F' => 0x4F00,
        _ => null,
    };

    // Scan code set 1 for the US layout, unshifted and shifted rows.
    private const string Row1 = "1234567890-=", Row1Shift = "!@#$%^&*()_+";
    private const string Row2 = "qwertyuiop[]", Row2Shift = "QWERTYUIOP{}";
    private const string Row3 = "asdfghjkl;'`", Row3Shift = "ASDFGHJKL:\"~";
    private const string Row4 = "\\zxcvbnm,./", Row4Shift = "|ZXCVBNM<>?";

    public static ushort Key(byte ascii)
    {
        int scan = ascii switch
        {
            0x0D or 0x0A => 0x1C,
            0x08 or 0x7F => 0x0E,
            0x1B => 0x01,
            0x09 => 0x0F,
            0x20 => 0x39,
            >= 1 and <= 26 => Scan((char)('a' + ascii - 1)),
            _ => Scan((char)ascii),
        };
        byte value = ascii == 0x7F ? (byte)0x08 : ascii == 0x0A ? (byte)0x0D : ascii;
        return (ushort)((scan << 8) | value);
    }

    private static int Scan(char c)
    {
        int i;
        if ((i = Row1.IndexOf(c)) >= 0 || (i = Row1Shift.IndexOf(c)) >= 0) return 0x02 + i;
        if ((i = Row2.IndexOf(c)) >= 0 || (i = Row2Shift.IndexOf(c)) >= 0) return 0x10 + i;
        if ((i = Row3.IndexOf(c)) >= 0 || (i = Row3Shift.IndexOf(c)) >= 0) return 0x1E + i;
        if ((i = Row4.IndexOf(c)) >= 0 || (i = Row4Shift.IndexOf(c)) >= 0) return 0x2B + i;
        return 0;
    }
}
