using System.Buffers.Binary;
using System.Text;

namespace ImageTool.Tests.Formats.Cow;

/// <summary>
/// An independent reader for UML COW files written from the specification (Linux arch/um/drivers/cow_user.c,
/// FORMATS.md Part B §3), used to prove what ImageTool writes. Only the packed big-endian version 3 layout.
/// </summary>
internal sealed record UmlCowSpec(uint Mtime, ulong Size, uint SectorSize, uint Alignment, uint CowFormat, string BackingFile, byte[] File)
{
    public static UmlCowSpec Parse(byte[] file)
    {
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(file), Is.EqualTo(0x4F4F4F4Du), "magic");
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(4)), Is.EqualTo(3u), "version");
        var path = file.AsSpan(32, 4096);
        int nul = path.IndexOf((byte)0);
        Assert.That(nul, Is.GreaterThanOrEqualTo(0), "the path is NUL-terminated inside its 4096 bytes");
        return new UmlCowSpec(
            BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(8)),
            BinaryPrimitives.ReadUInt64BigEndian(file.AsSpan(12)),
            BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(20)),
            BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(24)),
            BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(28)),
            Encoding.UTF8.GetString(path[..nul]),
            file);
    }

    private static long RoundUp(long value, long align) => (value + align - 1) / align * align;

    public long BitmapOffset => RoundUp(4128, Alignment);
    public long BitmapLength => ((long)((Size + SectorSize - 1) / SectorSize) + 7) / 8;
    public long DataOffset => RoundUp(BitmapOffset + BitmapLength, Alignment);

    /// <summary>Sector s is bit (s % 8) of bitmap byte s / 8.</summary>
    public bool IsSet(long sector) => (File[BitmapOffset + sector / 8] & (1 << (int)(sector % 8))) != 0;

    public IEnumerable<long> SetSectors()
    {
        for (long s = 0; s < BitmapLength * 8; s++)
            if (IsSet(s)) yield return s;
    }

    /// <summary>The disk as UML sees it: stored sectors from the COW file, the rest from the backing file.</summary>
    public byte[] Merge(byte[] backing)
    {
        var disk = new byte[Size];
        backing.AsSpan(0, (int)Math.Min((long)Size, backing.Length)).CopyTo(disk);
        foreach (long s in SetSectors())
        {
            long at = DataOffset + s * SectorSize;
            int n = (int)Math.Min(SectorSize, (long)Size - s * SectorSize);
            File.AsSpan((int)at, n).CopyTo(disk.AsSpan((int)(s * SectorSize)));
        }
        return disk;
    }
}
