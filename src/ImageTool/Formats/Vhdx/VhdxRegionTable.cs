using System.Buffers.Binary;

namespace ImageTool.Formats.Vhdx;

/// <summary>The 64 KiB region table ([MS-VHDX] 2.2.3): where the BAT and the metadata region are.</summary>
internal readonly record struct VhdxRegionTable(VhdxRegion[] Entries)
{
    public const int Size = 64 << 10;
    public const long Offset1 = 192 << 10;
    public const long Offset2 = 256 << 10;
    public const int MaxEntries = 2047;
    private const uint Signature = 0x69676572; // "regi"

    public static readonly Guid BatGuid = new("2DC27766-F623-4200-9D64-115E9BFD4A08");
    public static readonly Guid MetadataGuid = new("8B7CA206-4790-4B9A-B8FE-575F050F886E");

    /// <summary>Decodes a table whose signature, checksum and entry count are right; null otherwise.</summary>
    public static VhdxRegionTable? TryRead(ReadOnlySpan<byte> b)
    {
        if (BinaryPrimitives.ReadUInt32LittleEndian(b) != Signature || !VhdxCrc32C.IsValid(b[..Size], 4)) return null;
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(b[8..]);
        if (count > MaxEntries) return null;
        var entries = new VhdxRegion[count];
        for (int i = 0; i < count; i++)
        {
            var e = b.Slice(16 + i * 32, 32);
            entries[i] = new VhdxRegion(new Guid(e[..16]), BinaryPrimitives.ReadUInt64LittleEndian(e[16..]),
                BinaryPrimitives.ReadUInt32LittleEndian(e[24..]), (BinaryPrimitives.ReadUInt32LittleEndian(e[28..]) & 1) != 0);
        }
        return new VhdxRegionTable(entries);
    }

    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(b, Signature);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], (uint)Entries.Length);
        for (int i = 0; i < Entries.Length; i++)
        {
            var e = b.Slice(16 + i * 32, 32);
            Entries[i].Guid.TryWriteBytes(e);
            BinaryPrimitives.WriteUInt64LittleEndian(e[16..], Entries[i].FileOffset);
            BinaryPrimitives.WriteUInt32LittleEndian(e[24..], Entries[i].Length);
            BinaryPrimitives.WriteUInt32LittleEndian(e[28..], Entries[i].Required ? 1u : 0u);
        }
        VhdxCrc32C.Seal(b[..Size], 4);
    }
}

/// <summary>One region table entry.</summary>
internal readonly record struct VhdxRegion(Guid Guid, ulong FileOffset, uint Length, bool Required);
