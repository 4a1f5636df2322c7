using System.Buffers.Binary;

namespace ImageTool.Kvm.Devices;

/// <summary>Little-endian 1/2/4-byte access to a configuration space image; reads past the end float.</summary>
internal static class ConfigSpace
{
    /// <summary>A fixed base address register: <paramref name="Register"/> offset, power-of-two size, where it sits, I/O or memory.</summary>
    public readonly record struct Bar(int Register, uint Size, uint Base, bool Io);

    /// <summary>
    /// A guest's write to a device's header: BAR sizing (all-ones reads back ~(size-1), plus the I/O bit) while the
    /// BARs stay put (relocation is not supported: firmware-less guests keep what they find); command and
    /// interrupt-line writes are kept; everything else is read-only.
    /// </summary>
    public static void WriteHeader(Span<byte> space, int register, int size, uint value, params ReadOnlySpan<Bar> bars)
    {
        foreach (var bar in bars)
        {
            if (register != bar.Register || size != 4) continue;
            uint io = bar.Io ? 1u : 0u;
            BinaryPrimitives.WriteUInt32LittleEndian(space[register..], value == uint.MaxValue ? ~(bar.Size - 1) | io : bar.Base | io);
            return;
        }
        if (register is 0x04 or 0x05 or 0x3C) Write(space, register, size, value);
    }

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
