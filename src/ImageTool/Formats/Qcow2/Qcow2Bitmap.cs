using System.Buffers.Binary;
using System.Text;
using ImageTool.IO;

namespace ImageTool.Formats.Qcow2;

/// <summary>One persistent dirty bitmap from the bitmap directory (docs/interop/qcow2.txt "Bitmaps").</summary>
internal sealed record Qcow2Bitmap(string Name, uint Flags, int GranularityBits, long TableOffset, long TableSize)
{
    public const uint FlagInUse = 1;
    public const uint FlagAuto = 2;
    public const uint FlagExtraDataCompatible = 4;
    private const int EntryHeaderSize = 24;

    /// <summary>Bitmap type; 1 (dirty tracking) is the only one defined.</summary>
    public byte Type { get; init; } = 1;

    /// <summary>Extra data of the directory entry, kept as is.</summary>
    public byte[] ExtraData { get; init; } = [];

    public bool InUse => (Flags & FlagInUse) != 0;

    /// <summary>Where the bitmaps extension puts the directory (0, 0 without a valid extension).</summary>
    public static (long Offset, long Size) DirectoryLocation(Qcow2Header header)
    {
        var ext = header.OtherExtensions.FirstOrDefault(e => e.Type == Qcow2Header.ExtBitmaps).Data;
        if (ext == null || ext.Length < 24) return (0, 0);
        return ((long)BinaryPrimitives.ReadUInt64BigEndian(ext.AsSpan(16)), (long)BinaryPrimitives.ReadUInt64BigEndian(ext.AsSpan(8)));
    }

    /// <summary>The directory's location in the image file, and its bitmaps; empty when the autoclear bit disowns them.</summary>
    public static (long Offset, long Size, List<Qcow2Bitmap> Bitmaps) ReadDirectory(HostFile file, Qcow2Header header)
    {
        var none = (0L, 0L, new List<Qcow2Bitmap>());
        if ((header.AutoclearFeatures & Qcow2Header.AutoclearBitmaps) == 0) return none;
        var ext = header.OtherExtensions.FirstOrDefault(e => e.Type == Qcow2Header.ExtBitmaps).Data;
        if (ext == null || ext.Length < 24) return none;
        uint count = BinaryPrimitives.ReadUInt32BigEndian(ext);
        long size = (long)BinaryPrimitives.ReadUInt64BigEndian(ext.AsSpan(8));
        long offset = (long)BinaryPrimitives.ReadUInt64BigEndian(ext.AsSpan(16));
        if (size is <= 0 or > 64 << 20 || offset < 0) return none;
        var directory = new byte[size];
        file.Read(offset, directory);
        var bitmaps = new List<Qcow2Bitmap>();
        int at = 0;
        for (uint i = 0; i < count && at + EntryHeaderSize <= directory.Length; i++)
        {
            int nameSize = BinaryPrimitives.ReadUInt16BigEndian(directory.AsSpan(at + 18));
            long extra = BinaryPrimitives.ReadUInt32BigEndian(directory.AsSpan(at + 20));
            long nameAt = at + EntryHeaderSize + extra;
            if (nameAt + nameSize > directory.Length) break;
            bitmaps.Add(new Qcow2Bitmap(
                Encoding.UTF8.GetString(directory.AsSpan((int)nameAt, nameSize)),
                BinaryPrimitives.ReadUInt32BigEndian(directory.AsSpan(at + 12)),
                directory[at + 17],
                (long)BinaryPrimitives.ReadUInt64BigEndian(directory.AsSpan(at)),
                BinaryPrimitives.ReadUInt32BigEndian(directory.AsSpan(at + 8)))
            {
                Type = directory[at + 16],
                ExtraData = directory.AsSpan(at + EntryHeaderSize, (int)extra).ToArray(),
            });
            at = (int)((nameAt + nameSize + 7) & ~7L);
        }
        return (offset, size, bitmaps);
    }

    /// <summary>The directory as stored: each entry 8-byte aligned.</summary>
    public static byte[] SerializeDirectory(IReadOnlyList<Qcow2Bitmap> bitmaps)
    {
        var entries = bitmaps.Select(b => b.Serialize()).ToList();
        var directory = new byte[entries.Sum(e => e.Length)];
        int at = 0;
        foreach (var entry in entries)
        {
            entry.CopyTo(directory, at);
            at += entry.Length;
        }
        return directory;
    }

    private byte[] Serialize()
    {
        var name = Encoding.UTF8.GetBytes(Name);
        var entry = new byte[(EntryHeaderSize + ExtraData.Length + name.Length + 7) & ~7];
        BinaryPrimitives.WriteUInt64BigEndian(entry, (ulong)TableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(entry.AsSpan(8), (uint)TableSize);
        BinaryPrimitives.WriteUInt32BigEndian(entry.AsSpan(12), Flags);
        entry[16] = Type;
        entry[17] = (byte)GranularityBits;
        BinaryPrimitives.WriteUInt16BigEndian(entry.AsSpan(18), (ushort)name.Length);
        BinaryPrimitives.WriteUInt32BigEndian(entry.AsSpan(20), (uint)ExtraData.Length);
        ExtraData.CopyTo(entry, EntryHeaderSize);
        name.CopyTo(entry, EntryHeaderSize + ExtraData.Length);
        return entry;
    }

    /// <summary>The bitmaps header extension's payload.</summary>
    public static byte[] Extension(int count, long directorySize, long directoryOffset)
    {
        var ext = new byte[24];
        BinaryPrimitives.WriteUInt32BigEndian(ext, (uint)count);
        BinaryPrimitives.WriteUInt64BigEndian(ext.AsSpan(8), (ulong)directorySize);
        BinaryPrimitives.WriteUInt64BigEndian(ext.AsSpan(16), (ulong)directoryOffset);
        return ext;
    }
}
