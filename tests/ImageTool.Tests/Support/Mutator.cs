using System.Buffers.Binary;

namespace ImageTool.Tests.Support;

/// <summary>
/// Deterministic (seeded) damage to an image's bytes: bit flips, "interesting" integers over header and table
/// fields, and truncation. Offsets favour the header and the first clusters, where the metadata lives.
/// </summary>
public static class Mutator
{
    private static readonly ulong[] Interesting =
    [
        0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x200, 0x1000, 0x10000, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff,
        0x1_0000_0000, 0x7fff_ffff_ffff_ffff, 0x8000_0000_0000_0000, 0xffff_ffff_ffff_ffff,
    ];

    /// <summary>A damaged copy of <paramref name="image"/> and a short description of the damage.</summary>
    public static (byte[] Bytes, string What) Mutate(byte[] image, Random random)
    {
        var bytes = (byte[])image.Clone();
        if (bytes.Length == 0) return (bytes, "empty");
        int kind = random.Next(100);
        if (kind < 5)
        {
            int length = random.Next(bytes.Length);
            return (bytes[..length], $"truncated to {length}");
        }
        int offset = PickOffset(bytes.Length, random);
        if (kind < 45)
        {
            int bit = random.Next(8);
            bytes[offset] ^= (byte)(1 << bit);
            return (bytes, $"bit {bit} of byte {offset} flipped");
        }
        int size = new[] { 1, 2, 4, 8 }[random.Next(4)];
        offset = Math.Min(offset & ~(size - 1), bytes.Length - size);
        if (offset < 0) return (bytes, "unchanged");
        ulong value = random.Next(4) switch
        {
            0 => (ulong)random.NextInt64(),
            1 => (ulong)bytes.Length + (ulong)random.Next(-2, 3) * 512,
            _ => Interesting[random.Next(Interesting.Length)],
        };
        var span = bytes.AsSpan(offset, size);
        bool bigEndian = random.Next(2) == 0;
        switch (size)
        {
            case 1: span[0] = (byte)value; break;
            case 2: if (bigEndian) BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)value); else BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)value); break;
            case 4: if (bigEndian) BinaryPrimitives.WriteUInt32BigEndian(span, (uint)value); else BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)value); break;
            default: if (bigEndian) BinaryPrimitives.WriteUInt64BigEndian(span, value); else BinaryPrimitives.WriteUInt64LittleEndian(span, value); break;
        }
        return (bytes, $"{size} bytes at {offset} set to 0x{value:x} ({(bigEndian ? "BE" : "LE")})");
    }

    private static int PickOffset(int length, Random random) => random.Next(10) switch
    {
        < 5 => random.Next(Math.Min(length, 512)),
        < 8 => random.Next(Math.Min(length, 128 << 10)),
        _ => random.Next(length),
    };
}
