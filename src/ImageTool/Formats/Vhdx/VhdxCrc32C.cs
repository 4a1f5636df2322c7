using System.Buffers.Binary;
using System.Numerics;

namespace ImageTool.Formats.Vhdx;

/// <summary>CRC-32C (Castagnoli) as VHDX uses it: initial value and final xor 0xFFFFFFFF, the checksum field counted as zero.</summary>
internal static class VhdxCrc32C
{
    public static uint Compute(ReadOnlySpan<byte> data, int checksumAt)
    {
        uint crc = Update(0xFFFFFFFF, data[..checksumAt]);
        crc = Update(crc, [0, 0, 0, 0]);
        return ~Update(crc, data[(checksumAt + 4)..]);
    }

    public static bool IsValid(ReadOnlySpan<byte> data, int checksumAt) =>
        Compute(data, checksumAt) == BinaryPrimitives.ReadUInt32LittleEndian(data[checksumAt..]);

    /// <summary>Computes the checksum and stores it at <paramref name="checksumAt"/>.</summary>
    public static void Seal(Span<byte> data, int checksumAt) =>
        BinaryPrimitives.WriteUInt32LittleEndian(data[checksumAt..], Compute(data, checksumAt));

    private static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (byte b in data) crc = BitOperations.Crc32C(crc, b);
        return crc;
    }
}
