using System.Buffers.Binary;

namespace ImageTool.Formats.Vhdx;

/// <summary>
/// The metadata region ([MS-VHDX] 2.6): a table of items (GUID, offset from the region start, length, flags)
/// and their values. qemu writes the five system items packed from 64 KiB into the region.
/// </summary>
internal sealed record VhdxMetadata(uint BlockSize, bool LeaveBlocksAllocated, bool HasParent, ulong VirtualSize,
    Guid Page83, uint LogicalSectorSize, uint PhysicalSectorSize)
{
    public const int TableSize = 64 << 10;
    public const int MaxEntries = 2047;
    private static ReadOnlySpan<byte> Signature => "metadata"u8;

    public static readonly Guid FileParametersGuid = new("CAA16737-FA36-4D43-B3B6-33F0AA44E76B");
    public static readonly Guid VirtualSizeGuid = new("2FA54224-CD1B-4876-B211-5DBED83BF4B8");
    public static readonly Guid Page83Guid = new("BECA12AB-B2E6-4523-93EF-C309E000C746");
    public static readonly Guid LogicalSectorGuid = new("8141BF1D-A96F-4709-BA47-F233A8FAAB5F");
    public static readonly Guid PhysicalSectorGuid = new("CDA348C7-445D-4471-9CC9-E9885251C556");
    public static readonly Guid ParentLocatorGuid = new("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C");

    private const uint FlagIsVirtualDisk = 2;
    private const uint FlagIsRequired = 4;

    /// <summary>
    /// Parses the table and the items qemu needs (its vhdx_parse_metadata): a bad signature, too many entries,
    /// a missing system item or an item outside the region is "Invalid argument"; an unknown required item
    /// is "Operation not supported".
    /// </summary>
    public static VhdxMetadata Read(ReadOnlySpan<byte> region, Func<string, Exception> invalid)
    {
        if (!region[..8].SequenceEqual(Signature)) throw invalid("Invalid argument");
        int count = BinaryPrimitives.ReadUInt16LittleEndian(region[10..]);
        if (count > MaxEntries) throw invalid("Invalid argument");
        uint? blockSize = null, bits = null, logical = null, physical = null;
        ulong? size = null;
        Guid? page83 = null;
        for (int i = 0; i < count; i++)
        {
            var e = region.Slice(32 + i * 32, 32);
            var guid = new Guid(e[..16]);
            uint offset = BinaryPrimitives.ReadUInt32LittleEndian(e[16..]);
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(e[20..]);
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(e[24..]);
            if (length > 0 && (offset < TableSize || (ulong)offset + length > (ulong)region.Length)) throw invalid("Invalid argument");
            var value = region.Slice((int)Math.Min(offset, (uint)region.Length), (int)Math.Min(length, (uint)(region.Length - Math.Min(offset, (uint)region.Length))));
            if (guid == FileParametersGuid && value.Length >= 8)
            {
                blockSize = BinaryPrimitives.ReadUInt32LittleEndian(value);
                bits = BinaryPrimitives.ReadUInt32LittleEndian(value[4..]);
            }
            else if (guid == VirtualSizeGuid && value.Length >= 8) size = BinaryPrimitives.ReadUInt64LittleEndian(value);
            else if (guid == Page83Guid && value.Length >= 16) page83 = new Guid(value[..16]);
            else if (guid == LogicalSectorGuid && value.Length >= 4) logical = BinaryPrimitives.ReadUInt32LittleEndian(value);
            else if (guid == PhysicalSectorGuid && value.Length >= 4) physical = BinaryPrimitives.ReadUInt32LittleEndian(value);
            else if (guid == ParentLocatorGuid) { }
            else if ((flags & FlagIsRequired) != 0) throw invalid("Operation not supported");
        }
        if (blockSize == null || size == null || page83 == null || logical == null || physical == null) throw invalid("Invalid argument");
        return new VhdxMetadata(blockSize.Value, (bits!.Value & 1) != 0, (bits.Value & 2) != 0, size.Value, page83.Value,
            logical.Value, physical.Value);
    }

    /// <summary>qemu's vhdx_create_new_metadata: the table, then the values packed from 64 KiB (region is 1 MiB).</summary>
    public void Write(Span<byte> region)
    {
        region.Clear();
        Signature.CopyTo(region);
        BinaryPrimitives.WriteUInt16LittleEndian(region[10..], 5);
        var items = new (Guid Guid, int Length, uint Flags)[]
        {
            (FileParametersGuid, 8, FlagIsRequired),
            (VirtualSizeGuid, 8, FlagIsRequired | FlagIsVirtualDisk),
            (Page83Guid, 16, FlagIsRequired | FlagIsVirtualDisk),
            (LogicalSectorGuid, 4, FlagIsRequired | FlagIsVirtualDisk),
            (PhysicalSectorGuid, 4, FlagIsRequired | FlagIsVirtualDisk),
        };
        int offset = TableSize;
        for (int i = 0; i < items.Length; i++)
        {
            var e = region.Slice(32 + i * 32, 32);
            items[i].Guid.TryWriteBytes(e);
            BinaryPrimitives.WriteUInt32LittleEndian(e[16..], (uint)offset);
            BinaryPrimitives.WriteUInt32LittleEndian(e[20..], (uint)items[i].Length);
            BinaryPrimitives.WriteUInt32LittleEndian(e[24..], items[i].Flags);
            offset += items[i].Length;
        }
        var v = region[TableSize..];
        BinaryPrimitives.WriteUInt32LittleEndian(v, BlockSize);
        BinaryPrimitives.WriteUInt32LittleEndian(v[4..], (LeaveBlocksAllocated ? 1u : 0) | (HasParent ? 2u : 0));
        BinaryPrimitives.WriteUInt64LittleEndian(v[8..], VirtualSize);
        Page83.TryWriteBytes(v[16..]);
        BinaryPrimitives.WriteUInt32LittleEndian(v[32..], LogicalSectorSize);
        BinaryPrimitives.WriteUInt32LittleEndian(v[36..], PhysicalSectorSize);
    }
}
