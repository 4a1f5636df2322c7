using System.Buffers.Binary;

namespace ImageTool.Kvm.Devices;

/// <summary>Little-endian 1/2/4-byte access to a configuration space image; reads past the end float.</summary>
internal static class ConfigSpace
{
    public static uint Read(ReadOnlySpan<byte> space, int offset, int size)
    {
        if (offset < 0 || offset + size > space.Length) return uint.MaxValue;
        return size switch
        {
            1 => space[offset],
            2 => BinaryPrimitives.ReadUInt16LittleEndian(space[offset..]),
            _ => BinaryPrimitives.ReadUInt32LittleEndian(space[offset..]),
        };
    }

    public static void Write(Span<byte> space, int offset, int size, uint value)
    {
        if (offset < 0 || offset + size > space.Length) return;
        switch (size)
        {
            case 1: space[offset] = (byte)value; break;
            case 2: BinaryPrimitives.WriteUInt16LittleEndian(space[offset..], (ushort)value); break;
            default: BinaryPrimitives.WriteUInt32LittleEndian(space[offset..], value); break;
        }
    }
}
