using System.Buffers.Binary;

namespace ImageTool.Kvm.Boot;

/// <summary>
/// Decoder for the LZ4 "legacy" frame the kernel build writes (<c>lz4 -l</c>): the magic 0x184C2102, then
/// blocks of {u32 compressed size, LZ4 block}, each up to 8 MiB decompressed; a trailing u32 (the kernel's
/// appended uncompressed size) or any other short tail ends the stream.
/// </summary>
internal static class Lz4Legacy
{
    public const uint Magic = 0x184C2102;
    private const int MaxBlock = 8 << 20;

    public static bool IsLz4Legacy(ReadOnlySpan<byte> data) => data.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(data) == Magic;

    /// <summary>The decompressed bytes; throws <see cref="InvalidDataException"/> on corrupt input or more than <paramref name="limit"/> bytes.</summary>
    public static byte[] Decompress(ReadOnlySpan<byte> data, int limit)
    {
        if (!IsLz4Legacy(data)) throw new InvalidDataException("not an LZ4 legacy stream");
        var output = new MemoryStream();
        var block = new byte[MaxBlock];
        int at = 4;
        while (at + 4 <= data.Length)
        {
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(data[at..]);
            if (size == Magic)
            {
                at += 4; // concatenated streams
                continue;
            }
            if (size == 0 || size > (uint)(data.Length - at - 4)) break; // the appended length, or the end
            int n = DecodeBlock(data.Slice(at + 4, (int)size), block);
            if (output.Length + n > limit) throw new InvalidDataException("LZ4 data larger than expected");
            output.Write(block, 0, n);
            at += 4 + (int)size;
        }
        return output.ToArray();
    }

    // One LZ4 block: sequences of {token, literal length, literals, u16 offset, match length}.
    private static int DecodeBlock(ReadOnlySpan<byte> input, Span<byte> output)
    {
        int i = 0, o = 0;
        while (i < input.Length)
        {
            int token = input[i++];
            int literals = ReadLength(input, ref i, token >> 4);
            if (literals > input.Length - i || literals > output.Length - o) throw new InvalidDataException("corrupt LZ4 block");
            input.Slice(i, literals).CopyTo(output[o..]);
            i += literals;
            o += literals;
            if (i == input.Length) break; // the last sequence has literals only
            if (i + 2 > input.Length) throw new InvalidDataException("corrupt LZ4 block");
            int offset = input[i] | input[i + 1] << 8;
            i += 2;
            int match = ReadLength(input, ref i, token & 0xF) + 4;
            if (offset == 0 || offset > o || match > output.Length - o) throw new InvalidDataException("corrupt LZ4 block");
            for (int k = 0; k < match; k++, o++) output[o] = output[o - offset]; // may overlap
        }
        return o;
    }

    private static int ReadLength(ReadOnlySpan<byte> input, ref int i, int nibble)
    {
        int length = nibble;
        if (nibble != 15) return length;
        byte b;
        do
        {
            if (i >= input.Length) throw new InvalidDataException("corrupt LZ4 block");
            b = input[i++];
            length += b;
        } while (b == 255);
        return length;
    }
}
