using System.Buffers.Binary;
using System.Text;

namespace ImageTool.Formats.Vpc;

/// <summary>
/// The 1024-byte dynamic disk header ("cxsparse", VHD spec "Dynamic Disk Header Format"), big-endian:
/// where the block allocation table is, how big blocks are and, for differencing disks, the parent.
/// </summary>
internal readonly record struct VpcDynamicHeader(
    ulong DataOffset, ulong TableOffset, uint HeaderVersion, uint MaxTableEntries, uint BlockSize, uint Checksum,
    Guid ParentUniqueId, uint ParentTimestamp, string ParentName, VpcParentLocator[] Locators)
{
    public const int Size = 1024;
    public const int LocatorCount = 8;
    public const uint DefaultBlockSize = 2 << 20;

    public static ReadOnlySpan<byte> Cookie => "cxsparse"u8;

    public static bool HasCookie(ReadOnlySpan<byte> b) => b[..8].SequenceEqual(Cookie);

    public static VpcDynamicHeader Read(ReadOnlySpan<byte> b)
    {
        var locators = new VpcParentLocator[LocatorCount];
        for (int i = 0; i < LocatorCount; i++) locators[i] = VpcParentLocator.Read(b[(576 + i * VpcParentLocator.Size)..]);
        // The parent's name is UTF-16 big-endian, NUL padded.
        var name = Encoding.BigEndianUnicode.GetString(b.Slice(64, 512));
        int nul = name.IndexOf('\0', StringComparison.Ordinal);
        return new(Be64(b, 8), Be64(b, 16), Be32(b, 24), Be32(b, 28), Be32(b, 32), Be32(b, 36), VpcGuid.Read(b[40..]),
            Be32(b, 56), nul < 0 ? name : name[..nul], locators);
    }

    /// <summary>Writes the header of a disk without parent (what qemu creates), checksum computed.</summary>
    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        Cookie.CopyTo(b);
        BinaryPrimitives.WriteUInt64BigEndian(b[8..], DataOffset);
        BinaryPrimitives.WriteUInt64BigEndian(b[16..], TableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(b[24..], HeaderVersion);
        BinaryPrimitives.WriteUInt32BigEndian(b[28..], MaxTableEntries);
        BinaryPrimitives.WriteUInt32BigEndian(b[32..], BlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(b[36..], VpcFooter.ComputeChecksum(b[..Size], 36));
    }

    private static uint Be32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32BigEndian(b[at..]);
    private static ulong Be64(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt64BigEndian(b[at..]);
}
