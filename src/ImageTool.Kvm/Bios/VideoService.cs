namespace ImageTool.Kvm.Bios;

/// <summary>INT 10h in text mode 3: output through <see cref="TextScreen"/>, mode and cursor queries, no VBE.</summary>
internal sealed class VideoService(TextScreen screen)
{
    public void Handle(BiosCall call)
    {
        ref var r = ref call.Regs;
        switch (r.Ah)
        {
            case 0x00: // set mode: clear the screen
                screen.ScrollUp(0, 0x07);
                screen.SetCursor(0, 0);
                break;
            case 0x01: call.Memory.WriteUInt16(0x460, r.Cx); break;
            case 0x02: screen.SetCursor(r.Dh, r.Dl); break;
            case 0x03:
                r.Dh = (byte)screen.Row;
                r.Dl = (byte)screen.Column;
                r.Cx = call.Memory.ReadUInt16(0x460);
                break;
            case 0x05: break; // one page only
            case 0x06 or 0x07:
                if (r.Ch == 0 && r.Cl == 0 && r.Dh >= TextScreen.Rows - 1) screen.ScrollUp(r.Ah == 0x06 ? r.Al : 0, r.Bh);
                break;
            case 0x08:
                var (ch, attribute) = screen.ReadAtCursor();
                r.Ax = (ushort)(ch | (attribute << 8));
                break;
            case 0x09: screen.WriteAtCursor(r.Al, r.Bl, r.Cx); break;
            case 0x0A: screen.WriteAtCursor(r.Al, null, r.Cx); break;
            case 0x0E:
                screen.Teletype(r.Al);
                screen.Flush();
                break;
            case 0x0F:
                r.Ax = (TextScreen.Columns << 8) | 0x03;
                r.Bh = 0;
                break;
            case 0x11 when r.Al == 0x30: // font information
                r.Cx = 16;
                r.Dl = TextScreen.Rows - 1;
                break;
            case 0x12 when r.Bl == 0x10: // EGA information: colour, 256 KiB
                r.Bx = 0x0003;
                r.Cx = 0x0009;
                break;
            case 0x13: WriteString(call); break;
            case 0x1A when r.Al == 0x00: // display combination: VGA colour
                r.Al = 0x1A;
                r.Bx = 0x0008;
                break;
            case 0x4F: // VBE: function call failed
                r.Ax = 0x014F;
                break;
        }
    }

    // AL bit 0: move the cursor, bit 1: string holds char/attribute pairs; ES:BP string, CX count, DH/DL position.
    private void WriteString(BiosCall call)
    {
        ref var r = ref call.Regs;
        int savedRow = screen.Row, savedColumn = screen.Column;
        bool withAttributes = (r.Al & 2) != 0;
        var text = call.Memory.Span(call.EsAddress(r.Bp), r.Cx * (withAttributes ? 2 : 1));
        screen.SetCursor(r.Dh, r.Dl);
        for (int i = 0; i < r.Cx; i++)
        {
            if (withAttributes) screen.Teletype(text[2 * i], text[2 * i + 1]);
            else screen.Teletype(text[i], r.Bl);
        }
        if ((r.Al & 1) == 0) screen.SetCursor(savedRow, savedColumn);
        screen.Flush();
    }
}
