namespace ImageTool.Kvm.Devices;

/// <summary>
/// The 82540EM's 64-word Microwire EEPROM behind EECD (bit-banged: SK b0, CS b1, DI b2, DO b3) and EERD:
/// words 0-2 the MAC, the checksum word 0x3F making the sum 0xBABA (NETWORK.md §2.2). A READ is a start bit,
/// opcode 10b and six address bits on DI, clocked in on SK rising edges; the word then comes out MSB first on
/// DO, one bit per rising edge, and reading runs on into the following words.
/// </summary>
internal sealed class E1000Eeprom
{
    private const uint Sk = 1, Cs = 2, Di = 4, Do = 8;
    private readonly ushort[] _words = new ushort[64];
    private uint _eecd;
    private int _bitsIn, _command, _bitOut = -1;

    public E1000Eeprom(ReadOnlySpan<byte> mac)
    {
        for (int i = 0; i < 3; i++) _words[i] = (ushort)(mac[2 * i] | mac[2 * i + 1] << 8);
        _words[0x0A] = 0x6405;                  // init control 1 (qemu's image)
        _words[0x0B] = 0x1100;                  // subsystem id
        _words[0x0C] = 0x1AF4;                  // subsystem vendor
        _words[0x0D] = 0x100E;                  // device id
        _words[0x0E] = 0x8086;                  // vendor id
        ushort sum = 0;
        for (int i = 0; i < 0x3F; i++) sum += _words[i];
        _words[0x3F] = (ushort)(0xBABA - sum);
    }

    public ushort Word(int address) => _words[address & 0x3F];

    /// <summary>EECD as read: the driver's bits, DO from the shift register, PRES, GNT echoing REQ.</summary>
    public uint ReadControl()
    {
        uint value = (_eecd & ~Do) | 1u << 8; // PRES
        if ((_eecd & (1u << 6)) != 0) value |= 1u << 7; // GNT
        if (_bitOut >= 0 && (_words[(_bitOut >> 4) & 0x3F] >> (15 - (_bitOut & 15)) & 1) != 0) value |= Do;
        return value;
    }

    public void WriteControl(uint value)
    {
        uint old = _eecd;
        _eecd = value & ~Do;
        if ((value & Cs) == 0)
        {
            _bitsIn = 0;
            _command = 0;
            _bitOut = -1;
            return;
        }
        if ((old & Sk) != 0 || (value & Sk) == 0) return; // act on SK rising edges only
        if (_bitOut >= 0)
        {
            _bitOut++;
            return;
        }
        if (_bitsIn == 0 && (value & Di) == 0) return; // waiting for the start bit
        _command = _command << 1 | ((value & Di) != 0 ? 1 : 0);
        if (++_bitsIn == 9)
        {
            // start (1) + opcode (2) + address (6): READ is 110 + address.
            if ((_command >> 6) == 0b110) _bitOut = (_command & 0x3F) * 16 - 1;
            _bitsIn = 0;
            _command = 0;
        }
    }
}
