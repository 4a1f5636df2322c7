using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using ImageTool.Formats.Dmg;

namespace ImageTool.Tests.Formats.Dmg;

/// <summary>
/// Writes small UDIF images for tests: the chunk data (the data fork), one mish block in an XML plist (or a classic resource
/// fork), the koly trailer. Chunks are laid out in order; each has a type, a sector count and its stored bytes.
/// </summary>
public static partial class DmgTestImage
{
    public sealed record Chunk(uint Type, ulong Sectors, byte[] Stored);

    public static Chunk RawChunk(byte[] data) => new(DmgChunk.Raw, (ulong)data.Length / 512, data);
    public static Chunk ZeroChunk(ulong sectors) => new(DmgChunk.Zero, sectors, []);
    public static Chunk IgnoreChunk(ulong sectors) => new(DmgChunk.Ignore, sectors, []);
    public static Chunk ZlibChunk(byte[] data) => new(DmgChunk.Zlib, (ulong)data.Length / 512, Deflate(data));
    public static Chunk Bzip2Chunk(byte[] data) => new(DmgChunk.Bzip2, (ulong)data.Length / 512, Bz2(data));

    /// <summary>The disk the chunks describe.</summary>
    public static byte[] Expected(IEnumerable<Chunk> chunks)
    {
        var ms = new MemoryStream();
        foreach (var c in chunks)
        {
            if (c.Type is DmgChunk.Zero or DmgChunk.Ignore) ms.Write(new byte[c.Sectors * 512]);
            else if (c.Type == DmgChunk.Raw) ms.Write(c.Stored);
            else if (c.Type == DmgChunk.Zlib) ms.Write(Inflate(c.Stored, (int)c.Sectors * 512));
        }
        return ms.ToArray();
    }

    /// <param name="path">The file to write.</param>
    /// <param name="chunks">The chunks in sector order.</param>
    /// <param name="resourceFork">Store the mish block in a classic resource fork instead of the XML plist.</param>
    /// <param name="sectorCount">The koly's sector count (default: the chunks' total).</param>
    /// <param name="patchMish">Changes the mish block before it is stored (corrupt inputs).</param>
    public static void Write(string path, IReadOnlyList<Chunk> chunks, bool resourceFork = false, ulong? sectorCount = null, Action<byte[]>? patchMish = null)
    {
        var data = new MemoryStream();
        var entries = new List<byte[]>();
        ulong sector = 0;
        foreach (var c in chunks)
        {
            entries.Add(Entry(c.Type, sector, c.Sectors, (ulong)data.Length, (ulong)c.Stored.Length));
            data.Write(c.Stored);
            sector += c.Sectors;
        }
        entries.Add(Entry(DmgChunk.Terminator, sector, 0, (ulong)data.Length, 0));
        var mish = new byte[204 + entries.Count * 40];
        "mish"u8.CopyTo(mish);
        BinaryPrimitives.WriteUInt32BigEndian(mish.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt64BigEndian(mish.AsSpan(16), sector);
        BinaryPrimitives.WriteUInt32BigEndian(mish.AsSpan(200), (uint)entries.Count);
        for (int i = 0; i < entries.Count; i++) entries[i].CopyTo(mish, 204 + i * 40);
        patchMish?.Invoke(mish);

        long forkOffset = data.Length;
        byte[] fork = resourceFork ? ResourceFork(mish) : Plist(mish);
        data.Write(fork);
        var koly = new byte[DmgKoly.Size];
        new DmgKoly(0, resourceFork ? (ulong)forkOffset : 0, resourceFork ? (ulong)fork.Length : 0,
            resourceFork ? 0 : (ulong)forkOffset, resourceFork ? 0 : (ulong)fork.Length, sectorCount ?? sector).Write(koly);
        data.Write(koly);
        File.WriteAllBytes(path, data.ToArray());
    }

    private static byte[] Entry(uint type, ulong sector, ulong sectors, ulong offset, ulong length)
    {
        var e = new byte[40];
        BinaryPrimitives.WriteUInt32BigEndian(e, type);
        BinaryPrimitives.WriteUInt64BigEndian(e.AsSpan(8), sector);
        BinaryPrimitives.WriteUInt64BigEndian(e.AsSpan(16), sectors);
        BinaryPrimitives.WriteUInt64BigEndian(e.AsSpan(24), offset);
        BinaryPrimitives.WriteUInt64BigEndian(e.AsSpan(32), length);
        return e;
    }

    private static byte[] Plist(byte[] mish)
    {
        // Base64 in lines of 52 characters with tabs, as hdiutil writes it.
        string b64 = Convert.ToBase64String(mish);
        var lines = Enumerable.Range(0, (b64.Length + 51) / 52).Select(i => "\t\t\t\t" + b64.Substring(i * 52, Math.Min(52, b64.Length - i * 52)));
        string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n\t<key>resource-fork</key>\n\t<dict>\n" +
            "\t\t<key>blkx</key>\n\t\t<array>\n\t\t\t<dict>\n\t\t\t\t<key>Data</key>\n\t\t\t\t<data>\n" + string.Join("\n", lines) +
            "\n\t\t\t\t</data>\n\t\t\t\t<key>Name</key>\n\t\t\t\t<string>whole disk</string>\n\t\t\t</dict>\n\t\t</array>\n\t</dict>\n</dict>\n</plist>\n";
        return Encoding.UTF8.GetBytes(xml);
    }

    /// <summary>A classic resource fork as qemu reads it: data offset (u32), map offset, data length, map length, then (length, bytes) resources.</summary>
    private static byte[] ResourceFork(byte[] mish)
    {
        var b = new byte[256 + 4 + mish.Length];
        BinaryPrimitives.WriteUInt32BigEndian(b, 256);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), (uint)(4 + mish.Length));
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(256), (uint)mish.Length);
        mish.CopyTo(b, 260);
        return b;
    }

    private static byte[] Deflate(byte[] data)
    {
        var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Optimal, leaveOpen: true)) z.Write(data);
        return ms.ToArray();
    }

    private static byte[] Inflate(byte[] data, int length)
    {
        using var z = new ZLibStream(new MemoryStream(data), CompressionMode.Decompress);
        var output = new byte[length];
        z.ReadExactly(output);
        return output;
    }

    [LibraryImport("libbz2.so.1.0", EntryPoint = "BZ2_bzBuffToBuffCompress")]
    private static unsafe partial int Bz2Compress(byte* dest, uint* destLen, byte* source, uint sourceLen, int blockSize100k, int verbosity, int workFactor);

    private static unsafe byte[] Bz2(byte[] data)
    {
        var output = new byte[data.Length + data.Length / 100 + 600];
        uint length = (uint)output.Length;
        fixed (byte* o = output)
        fixed (byte* i = data)
        {
            int rc = Bz2Compress(o, &length, i, (uint)data.Length, 9, 0, 0);
            if (rc != 0) throw new InvalidOperationException($"BZ2_bzBuffToBuffCompress returned {rc}");
        }
        return output[..(int)length];
    }
}
