using System.Buffers.Binary;

namespace ImageTool.Formats.Vpc;

/// <summary>
/// The 512-byte VHD footer (Microsoft VHD spec "Hard Disk Footer Format"), big-endian. It ends every VHD;
/// dynamic and differencing disks also keep a copy at offset 0.
/// </summary>
internal readonly record struct VpcFooter(
    uint Features, uint FormatVersion, ulong DataOffset, uint Timestamp, uint CreatorApp, uint CreatorVersion,
    uint CreatorHostOs, ulong OriginalSize, ulong CurrentSize, ushort Cylinders, byte Heads, byte SectorsPerTrack,
    uint DiskType, uint Checksum, Guid UniqueId, byte SavedState)
{
    public const int Size = 512;

    public const uint TypeFixed = 2;
    public const uint TypeDynamic = 3;
    public const uint TypeDifferencing = 4;

    /// <summary>The "reserved, always set" feature bit qemu writes.</summary>
    public const uint FeatureReserved = 2;
    public const uint Version1 = 0x00010000;

    /// <summary>Seconds between the Unix epoch and the VHD epoch (2000-01-01 00:00 UTC).</summary>
    public const long TimestampBase = 946684800;

    public static ReadOnlySpan<byte> Cookie => "conectix"u8;

    // Creator applications that store the real size in current_size (qemu's vpc_open table).
    public static uint App(string fourCc) => BinaryPrimitives.ReadUInt32BigEndian(System.Text.Encoding.ASCII.GetBytes(fourCc));

    public static bool HasCookie(ReadOnlySpan<byte> b) => b.Length >= 8 && b[..8].SequenceEqual(Cookie);

    public static VpcFooter Read(ReadOnlySpan<byte> b) => new(
        Be32(b, 8), Be32(b, 12), Be64(b, 16), Be32(b, 24), Be32(b, 28), Be32(b, 32), Be32(b, 36), Be64(b, 40), Be64(b, 48),
        BinaryPrimitives.ReadUInt16BigEndian(b[56..]), b[58], b[59], Be32(b, 60), Be32(b, 64), VpcGuid.Read(b[68..]), b[84]);

    /// <summary>Writes the footer with its checksum computed (the <see cref="Checksum"/> field is ignored).</summary>
    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        Cookie.CopyTo(b);
        PutBe(b, 8, Features);
        PutBe(b, 12, FormatVersion);
        PutBe(b, 16, DataOffset);
        PutBe(b, 24, Timestamp);
        PutBe(b, 28, CreatorApp);
        PutBe(b, 32, CreatorVersion);
        PutBe(b, 36, CreatorHostOs);
        PutBe(b, 40, OriginalSize);
        PutBe(b, 48, CurrentSize);
        BinaryPrimitives.WriteUInt16BigEndian(b[56..], Cylinders);
        b[58] = Heads;
        b[59] = SectorsPerTrack;
        PutBe(b, 60, DiskType);
        VpcGuid.Write(b[68..], UniqueId);
        b[84] = SavedState;
        PutBe(b, 64, ComputeChecksum(b[..Size], 64));
    }

    /// <summary>The spec's checksum: one's complement of the byte sum, the checksum field counted as zero.</summary>
    public static uint ComputeChecksum(ReadOnlySpan<byte> b, int checksumAt)
    {
        uint sum = 0;
        for (int i = 0; i < b.Length; i++)
            if (i < checksumAt || i >= checksumAt + 4) sum += b[i];
        return ~sum;
    }

    public long Geometry => (long)Cylinders * Heads * SectorsPerTrack;

    private static uint Be32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32BigEndian(b[at..]);
    private static ulong Be64(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt64BigEndian(b[at..]);
    private static void PutBe(Span<byte> b, int at, uint v) => BinaryPrimitives.WriteUInt32BigEndian(b[at..], v);
    private static void PutBe(Span<byte> b, int at, ulong v) => BinaryPrimitives.WriteUInt64BigEndian(b[at..], v);
}
