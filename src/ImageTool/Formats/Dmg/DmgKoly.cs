using System.Buffers.Binary;

namespace ImageTool.Formats.Dmg;

/// <summary>
/// The UDIF trailer ("koly", 512 bytes, big-endian; FORMATS-2.md §8): the fields qemu uses, by their offsets in the trailer.
/// </summary>
internal readonly record struct DmgKoly(
    ulong DataForkOffset, ulong ResourceForkOffset, ulong ResourceForkLength, ulong PlistOffset, ulong PlistLength, ulong SectorCount)
{
    public const int Size = 512;
    public static ReadOnlySpan<byte> Magic => "koly"u8;

    public static DmgKoly Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt64BigEndian(b[24..]),
        BinaryPrimitives.ReadUInt64BigEndian(b[40..]),
        BinaryPrimitives.ReadUInt64BigEndian(b[48..]),
        BinaryPrimitives.ReadUInt64BigEndian(b[216..]),
        BinaryPrimitives.ReadUInt64BigEndian(b[224..]),
        BinaryPrimitives.ReadUInt64BigEndian(b[492..]));

    /// <summary>A trailer with these fields (test images); version 4, header size 512.</summary>
    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        Magic.CopyTo(b);
        BinaryPrimitives.WriteUInt32BigEndian(b[4..], 4);
        BinaryPrimitives.WriteUInt32BigEndian(b[8..], Size);
        BinaryPrimitives.WriteUInt64BigEndian(b[24..], DataForkOffset);
        BinaryPrimitives.WriteUInt64BigEndian(b[40..], ResourceForkOffset);
        BinaryPrimitives.WriteUInt64BigEndian(b[48..], ResourceForkLength);
        BinaryPrimitives.WriteUInt64BigEndian(b[216..], PlistOffset);
        BinaryPrimitives.WriteUInt64BigEndian(b[224..], PlistLength);
        BinaryPrimitives.WriteUInt64BigEndian(b[492..], SectorCount);
    }

    /// <summary>qemu's sanity checks of the forks against the trailer's position (each fails with EINVAL).</summary>
    public bool IsConsistent(long kolyOffset) =>
        DataForkOffset <= (ulong)kolyOffset
        && ResourceForkOffset < (ulong)kolyOffset && ResourceForkLength <= (ulong)kolyOffset - ResourceForkOffset
        && PlistOffset < (ulong)kolyOffset && PlistLength <= (ulong)kolyOffset - PlistOffset
        && SectorCount <= long.MaxValue / 512;
}
