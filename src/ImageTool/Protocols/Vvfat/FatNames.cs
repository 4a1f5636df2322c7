using System.Text;

namespace ImageTool.Protocols.Vvfat;

/// <summary>
/// The names vvfat gives a host file: VFAT long-name entries holding the UTF-16 name, then an 8.3 alias made
/// the way qemu makes it (upper case, invalid characters dropped, a "~N" tail when the result is lossy or
/// already taken in the directory).
/// </summary>
internal static class FatNames
{
    private const string ShortPunctuation = "$%'-_@~`!(){}^#&";
    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    /// <summary>Adds the long-name entries, then the short entry, for a name; returns the short entry's index.</summary>
    /// <param name="table">The directory table.</param>
    /// <param name="directoryStart">The first entry of the directory the name goes in (the duplicates' scope).</param>
    /// <param name="name">The host name, as bytes.</param>
    /// <param name="warning">Receives qemu's note on names that are not UTF-8.</param>
    public static int Add(DirectoryTable table, int directoryStart, byte[] name, Action<ImageWarning>? warning)
    {
        int longStart = table.Count;
        bool hasLong = AddLongName(table, name, warning);
        int shortIndex = AddShortName(table, directoryStart, name);
        if (hasLong)
        {
            byte checksum = Checksum(table[shortIndex][..11]);
            for (int i = longStart; i < shortIndex && table.IsLongName(i); i++) table[i][13] = checksum;
        }
        return shortIndex;
    }

    /// <summary>The short name's checksum that every long-name entry carries.</summary>
    public static byte Checksum(ReadOnlySpan<byte> shortName)
    {
        byte sum = 0;
        foreach (byte c in shortName) sum = (byte)(((sum & 1) != 0 ? 0x80 : 0) + (sum >> 1) + c);
        return sum;
    }

    private static bool AddLongName(DirectoryTable table, byte[] name, Action<ImageWarning>? warning)
    {
        string text;
        try
        {
            text = StrictUtf8.GetString(name);
        }
        catch (DecoderFallbackException)
        {
            warning?.Invoke($"vvfat: invalid UTF-8 name: {Encoding.UTF8.GetString(name)}");
            return false;
        }
        int count = (text.Length * 2 + 25) / 26;
        int first = table.Count;
        for (int i = 0; i < count; i++)
        {
            var entry = table[table.Add()];
            entry[0] = (byte)((count - i) | (i == 0 ? 0x40 : 0));
            entry[11] = DirectoryTable.LongNameAttributes;
        }
        // Byte k of the UTF-16LE name (a NUL terminator, then 0xFF padding) goes to entry count-1-k/26.
        for (int k = 0; k < 26 * count; k++)
        {
            byte c = k >= 2 * text.Length + 2 ? (byte)0xFF
                : k >= 2 * text.Length ? (byte)0
                : k % 2 == 0 ? (byte)text[k / 2] : (byte)(text[k / 2] >> 8);
            int slot = k % 26;
            int offset = slot < 10 ? 1 + slot : slot < 22 ? 14 + slot - 10 : 28 + slot - 22;
            table[first + count - 1 - k / 26][offset] = c;
        }
        return true;
    }

    private static int AddShortName(DirectoryTable table, int directoryStart, byte[] name)
    {
        int index = table.Add();
        Span<byte> shortName = stackalloc byte[11];
        shortName.Fill((byte)' ');
        bool lossy = false;
        int j = 0;
        int lastDot = -1;
        for (int p = 0; p < name.Length;)
        {
            int c = Decode(name, p, out int next);
            if (c == '.')
            {
                if (j == 0) lossy = true;
                else
                {
                    if (lastDot >= 0) lossy = true;
                    lastDot = p;
                }
            }
            else if (lastDot < 0)
            {
                byte v = ShortChar(c);
                if (j < 8 && v != 0) shortName[j++] = v;
                else lossy = true;
            }
            p = next;
        }
        if (lastDot >= 0)
        {
            j = 0;
            for (int p = lastDot + 1; p < name.Length;)
            {
                byte v = ShortChar(Decode(name, p, out int next));
                if (j < 3 && v != 0) shortName[8 + j++] = v;
                else lossy = true;
                p = next;
            }
        }
        if (shortName[0] == 0xE5) shortName[0] = 0x05;

        int baseLength = shortName[..8].IndexOf((byte)' ');
        if (baseLength < 0) baseLength = 8;
        Span<byte> candidate = stackalloc byte[11];
        for (int n = lossy ? 1 : 0; n < 999999; n++)
        {
            shortName.CopyTo(candidate);
            if (n > 0)
            {
                // qemu writes the tail into the one buffer, so a longer tail overwrites the last shorter one.
                string tail = "~" + n.ToString(System.Globalization.CultureInfo.InvariantCulture);
                Encoding.ASCII.GetBytes(tail, shortName[Math.Min(baseLength, 8 - tail.Length)..]);
                shortName.CopyTo(candidate);
            }
            if (!Taken(table, directoryStart, index, candidate))
            {
                candidate.CopyTo(table[index]);
                return index;
            }
        }
        throw new ImageFormatException("Could not create a short name");
    }

    private static bool Taken(DirectoryTable table, int start, int end, ReadOnlySpan<byte> shortName)
    {
        for (int i = start; i < end; i++)
            if (!table.IsLongName(i) && table[i][..11].SequenceEqual(shortName)) return true;
        return false;
    }

    // glib's g_unichar_toupper, then qemu's set of valid short-name characters. As in qemu (strchr on the
    // character's low byte), a wide character whose low byte is listed passes as that byte.
    private static byte ShortChar(int c)
    {
        if (c < 0) return 0;
        if (Rune.IsValid(c)) c = Rune.ToUpperInvariant(new Rune(c)).Value;
        int low = c & 0xFF;
        if (c is >= '0' and <= '9' or >= 'A' and <= 'Z' || low == 0 || ShortPunctuation.Contains((char)low)) return (byte)c;
        return 0;
    }

    // One character as glib walks UTF-8: the lead byte says how many bytes to skip; -1 for a bad sequence.
    private static int Decode(byte[] name, int p, out int next)
    {
        byte lead = name[p];
        int length = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : lead < 0xF8 ? 4 : lead < 0xFC ? 5 : lead < 0xFE ? 6 : 1;
        next = Math.Min(name.Length, p + length);
        if (lead < 0x80) return lead;
        return Rune.DecodeFromUtf8(name.AsSpan(p, next - p), out var rune, out int used) == System.Buffers.OperationStatus.Done && used == next - p
            ? rune.Value : -1;
    }
}
