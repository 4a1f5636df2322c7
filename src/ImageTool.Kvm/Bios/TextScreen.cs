using ImageTool.Kvm.Machine;

namespace ImageTool.Kvm.Bios;

/// <summary>
/// The 80x25 text screen behind INT 10h: characters go to VGA memory at 0xB8000 and are mirrored to the
/// console the way SeaBIOS's serial console does, but as plain text: a write below or left of where the
/// console cursor is becomes a line break, a write to the right becomes spaces.
/// </summary>
internal sealed class TextScreen(GuestMemory memory, GuestConsole console)
{
    public const int Columns = 80;
    public const int Rows = 25;
    private const ulong VgaText = 0xB8000;
    private const ulong CursorBda = 0x450;

    private int _outRow, _outCol;

    public int Row => memory.ReadByte(CursorBda + 1);
    public int Column => memory.ReadByte(CursorBda);

    public void SetCursor(int row, int column)
    {
        memory.WriteByte(CursorBda, (byte)Math.Clamp(column, 0, Columns - 1));
        memory.WriteByte(CursorBda + 1, (byte)Math.Clamp(row, 0, Rows - 1));
    }

    /// <summary>Writes a character and attribute at the cursor, <paramref name="count"/> times, without moving it.</summary>
    public void WriteAtCursor(byte ch, byte? attribute, int count)
    {
        int row = Row, col = Column;
        for (int i = 0; i < count && col + i < Columns; i++)
        {
            Store(row, col + i, ch, attribute);
            // Runs of blanks (menu backgrounds, line clears) only reach VGA memory; positioning recreates gaps.
            if (count == 1 || ch != ' ') Emit(row, col + i, ch);
        }
        Flush();
    }

    /// <summary>Teletype output (INT 10h AH=0Eh and AH=13h): control characters act, others advance the cursor.</summary>
    public void Teletype(byte ch, byte? attribute = null)
    {
        int row = Row, col = Column;
        switch (ch)
        {
            case (byte)'\r':
                col = 0;
                Raw(ch);
                _outCol = 0;
                break;
            case (byte)'\n':
                Raw(ch);
                if (++row == Rows)
                {
                    ScrollUp(1, 0x07);
                    row = Rows - 1;
                }
                _outRow = row;
                break;
            case 8:
                if (col > 0) col--;
                if (_outCol > 0)
                {
                    Raw(8);
                    _outCol--;
                }
                break;
            case 7:
                Raw(7);
                break;
            default:
                Store(row, col, ch, attribute);
                Emit(row, col, ch);
                if (++col == Columns)
                {
                    col = 0;
                    if (++row == Rows)
                    {
                        ScrollUp(1, 0x07);
                        row = Rows - 1;
                        _outRow--;
                    }
                }
                break;
        }
        SetCursor(row, col);
        if (ch == '\n') Flush();
    }

    /// <summary>Scrolls the whole screen up (INT 10h AH=06h); 0 lines clears it.</summary>
    public void ScrollUp(int lines, byte attribute)
    {
        var text = memory.Span(VgaText, Rows * Columns * 2);
        if (lines <= 0 || lines >= Rows) lines = Rows;
        text[(lines * Columns * 2)..].CopyTo(text);
        for (int i = (Rows - lines) * Columns; i < Rows * Columns; i++)
        {
            text[2 * i] = (byte)' ';
            text[2 * i + 1] = attribute;
        }
    }

    public (byte Char, byte Attribute) ReadAtCursor()
    {
        var cell = memory.Span(VgaText + (ulong)((Row * Columns + Column) * 2), 2);
        return (cell[0], cell[1]);
    }

    public void Flush() => console.Output.Flush();

    private void Store(int row, int col, byte ch, byte? attribute)
    {
        var cell = memory.Span(VgaText + (ulong)((row * Columns + col) * 2), 2);
        cell[0] = ch;
        if (attribute is { } a) cell[1] = a;
    }

    private void Emit(int row, int col, byte ch)
    {
        if (row != _outRow || col < _outCol)
        {
            int breaks = row > _outRow ? Math.Min(row - _outRow, 2) : 1;
            for (int i = 0; i < breaks; i++)
            {
                Raw((byte)'\r');
                Raw((byte)'\n');
            }
            _outRow = row;
            _outCol = 0;
        }
        for (; _outCol < col; _outCol++) Raw((byte)' ');
        Raw(ch);
        _outCol++;
    }

    private void Raw(byte b) => console.Output.WriteByte(b);
}
