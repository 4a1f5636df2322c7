using System.Buffers.Binary;
using System.Text;

namespace ImageTool.Formats.Dmg;

/// <summary>
/// Collects the chunks of every mish block of a dmg, from the XML plist or the resource fork, the way qemu's dmg_open does:
/// each <c>&lt;data&gt;</c> element of the plist (or resource of the fork) that decodes to a mish block adds its entries,
/// sectors relative to the block's first sector and offsets to the data fork plus the block's data offset.
/// </summary>
internal sealed class DmgBlockTable
{
    /// <summary>qemu's cap on the plist it reads (a large real image has about 1 MiB).</summary>
    public const ulong MaxPlistLength = 16 << 20;
    private const uint MishMagic = 0x6D697368; // "mish"
    private const int MishHeaderSize = 204;
    private const int EntrySize = 40;

    private readonly ulong _dataForkOffset;

    public DmgBlockTable(ulong dataForkOffset) => _dataForkOffset = dataForkOffset;

    public List<DmgChunk> Chunks { get; } = [];

    /// <summary>Types that are neither readable nor skipped (qemu warns about the first such type at open).</summary>
    public uint? UnknownType { get; private set; }

    /// <summary>Every base64 <c>&lt;data&gt;</c> element of the plist; text after a NUL byte is not seen (qemu uses C strings).</summary>
    public void AddPlist(ReadOnlySpan<byte> plist)
    {
        int nul = plist.IndexOf((byte)0);
        if (nul >= 0) plist = plist[..nul];
        ReadOnlySpan<byte> open = "<data>"u8, close = "</data>"u8;
        while (true)
        {
            int begin = plist.IndexOf(open);
            if (begin < 0) return;
            plist = plist[(begin + open.Length)..];
            int end = plist.IndexOf(close);
            if (end < 0) throw new ImageFormatException("Invalid argument");
            AddMish(Base64(plist[..end]));
            plist = plist[(end + close.Length)..];
        }
    }

    /// <summary>glib's lenient base64: characters outside the alphabet are skipped, an incomplete last group is dropped.</summary>
    private static byte[] Base64(ReadOnlySpan<byte> text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (byte c in text)
        {
            if (c is (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'a' and <= (byte)'z') or (>= (byte)'0' and <= (byte)'9') or (byte)'+' or (byte)'/' or (byte)'=')
                sb.Append((char)c);
        }
        sb.Length -= sb.Length % 4;
        try
        {
            return Convert.FromBase64String(sb.ToString());
        }
        catch (FormatException)
        {
            return [];
        }
    }

    /// <summary>One mish block; anything else (wrong magic, shorter than a mish header with one entry) is skipped, as qemu does.</summary>
    public void AddMish(ReadOnlySpan<byte> b)
    {
        if (b.Length < 244 || BinaryPrimitives.ReadUInt32BigEndian(b) != MishMagic) return;
        ulong firstSector = BinaryPrimitives.ReadUInt64BigEndian(b[8..]);
        ulong dataOffset = unchecked(_dataForkOffset + BinaryPrimitives.ReadUInt64BigEndian(b[24..]));
        // qemu takes the entry count from the block's length, not from its count field.
        int entries = (b.Length - MishHeaderSize) / EntrySize;
        for (int i = 0; i < entries; i++)
        {
            var e = b.Slice(MishHeaderSize + i * EntrySize, EntrySize);
            uint type = BinaryPrimitives.ReadUInt32BigEndian(e);
            if (type is DmgChunk.Comment or DmgChunk.Terminator) continue;
            var chunk = new DmgChunk(type,
                unchecked(BinaryPrimitives.ReadUInt64BigEndian(e[8..]) + firstSector),
                BinaryPrimitives.ReadUInt64BigEndian(e[16..]),
                unchecked(BinaryPrimitives.ReadUInt64BigEndian(e[24..]) + dataOffset),
                BinaryPrimitives.ReadUInt64BigEndian(e[32..]));
            int index = Chunks.Count;
            if (!chunk.IsZero && chunk.SectorCount > DmgChunk.MaxSectors)
                throw new DmgTableException($"sector count {chunk.SectorCount} for chunk {index} is larger than max ({DmgChunk.MaxSectors})");
            if (chunk.Length > DmgChunk.MaxLength)
                throw new DmgTableException($"length {chunk.Length} for chunk {index} is larger than max ({DmgChunk.MaxLength})");
            if (type is not (DmgChunk.Zero or DmgChunk.Raw or DmgChunk.Ignore or DmgChunk.Zlib or DmgChunk.Bzip2)) UnknownType ??= type;
            Chunks.Add(chunk);
        }
    }

    /// <summary>qemu's binary search over the chunks (they are in sector order in any sane image); null when no chunk holds the sector.</summary>
    public int? Find(ulong sector)
    {
        long low = 0, high = Chunks.Count - 1;
        while (low <= high)
        {
            long mid = (low + high) / 2;
            var c = Chunks[(int)mid];
            if (c.Sector > sector) high = mid - 1;
            else if (c.Sector + c.SectorCount > sector) return (int)mid;
            else low = mid + 1;
        }
        return null;
    }
}
