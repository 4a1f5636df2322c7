using System.Buffers.Binary;
using ImageTool.IO;

namespace ImageTool.Formats.Vhdx;

/// <summary>
/// The VHDX log ([MS-VHDX] 2.3): a circular buffer of 4 KiB-aligned entries, each a header, 32-byte data or
/// zero descriptors and one 4 KiB data sector per data descriptor, CRC-32C over the whole entry. A non-zero
/// LogGuid in the current header means the active sequence of entries must be replayed before use.
/// </summary>
internal static class VhdxLog
{
    private const int Sector = 4096;
    private const uint EntrySignature = 0x65676F6C; // "loge"
    private const uint DataDescriptorSignature = 0x63736564; // "desc"
    private const uint ZeroDescriptorSignature = 0x6F72657A; // "zero"
    private const uint DataSectorSignature = 0x61746164; // "data"

    /// <summary>A replay never extends the file past this (qemu's 64 TiB image limit plus its metadata).</summary>
    private const long MaxFileOffset = 1L << 47;

    private sealed record Entry(long Position, uint Length, uint Tail, ulong Sequence, ulong FlushedFileOffset, byte[] Bytes);

    /// <summary>Checks the header's log fields as qemu's vhdx_parse_log does; true when an active sequence is waiting.</summary>
    public static bool NeedsReplay(HostFile file, VhdxHeader header, Func<string, Exception> invalid) =>
        FindActiveSequence(file, header, invalid) != null;

    /// <summary>Applies the active sequence to the file; false when there was none.</summary>
    public static bool Replay(HostFile file, VhdxHeader header, Func<string, Exception> invalid)
    {
        var sequence = FindActiveSequence(file, header, invalid);
        if (sequence == null) return false;
        long flushedEnd = 0;
        foreach (var entry in sequence)
        {
            Apply(file, header, entry, invalid);
            flushedEnd = Math.Max(flushedEnd, (long)entry.FlushedFileOffset);
        }
        if (flushedEnd > file.Length) file.SetLength(flushedEnd);
        file.Flush();
        return true;
    }

    private static List<Entry>? FindActiveSequence(HostFile file, VhdxHeader header, Func<string, Exception> invalid)
    {
        if (header.LogOffset < (1 << 20) || header.LogOffset % (1 << 20) != 0) throw invalid("Invalid argument");
        if (header.LogVersion != 0) throw invalid("Invalid argument");
        if (header.LogGuid == Guid.Empty || header.LogLength == 0) return null;
        if (header.LogLength % (1 << 20) != 0) throw invalid("Invalid argument");
        // qemu's block layer refuses a request past its largest offset (2^63 - 1 GiB) with EIO.
        if (header.LogOffset > (ulong)(long.MaxValue - (1L << 30) + 1 - Sector)) throw invalid("Input/output error");
        // As qemu, the part of a log past the end of the file reads as zeros: no entries there, nothing to replay.
        long inFile = header.LogOffset >= (ulong)file.Length ? 0 : Math.Min(header.LogLength, file.Length - (long)header.LogOffset);
        var entries = new Dictionary<long, Entry>();
        for (long position = 0; position < inFile; position += Sector)
        {
            if (TryReadEntry(file, header, position) is { } entry) entries[position] = entry;
        }
        if (entries.Count == 0) return null;
        // The head is the valid entry with the highest sequence number; the active sequence runs from its tail to it.
        var head = entries.Values.MaxBy(e => e.Sequence)!;
        var chain = new List<Entry>();
        if (entries.TryGetValue(head.Tail, out var current))
        {
            for (int guard = 0; guard <= entries.Count; guard++)
            {
                chain.Add(current);
                if (current == head) return chain;
                long next = (current.Position + current.Length) % header.LogLength;
                if (!entries.TryGetValue(next, out var following) || following.Sequence != current.Sequence + 1) break;
                current = following;
            }
        }
        // The tail is gone or broken: replay the head alone, the one entry known to be complete.
        return [head];
    }

    private static Entry? TryReadEntry(HostFile file, VhdxHeader header, long position)
    {
        var first = new byte[Sector];
        ReadCircular(file, header, position, first);
        if (BinaryPrimitives.ReadUInt32LittleEndian(first) != EntrySignature) return null;
        if (new Guid(first.AsSpan(32, 16)) != header.LogGuid) return null;
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(first.AsSpan(8));
        if (length == 0 || length % Sector != 0 || length > header.LogLength) return null;
        uint descriptors = BinaryPrimitives.ReadUInt32LittleEndian(first.AsSpan(24));
        long descriptorSectors = (64 + (long)descriptors * 32 + Sector - 1) / Sector;
        if (descriptorSectors > length / Sector) return null;
        var bytes = new byte[length];
        ReadCircular(file, header, position, bytes);
        if (!VhdxCrc32C.IsValid(bytes, 4)) return null;
        return new Entry(position, length, BinaryPrimitives.ReadUInt32LittleEndian(first.AsSpan(12)),
            BinaryPrimitives.ReadUInt64LittleEndian(first.AsSpan(16)), BinaryPrimitives.ReadUInt64LittleEndian(first.AsSpan(48)), bytes);
    }

    private static void ReadCircular(HostFile file, VhdxHeader header, long position, Span<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            int n = (int)Math.Min(buffer.Length, header.LogLength - position);
            file.Read((long)header.LogOffset + position, buffer[..n]);
            buffer = buffer[n..];
            position = (position + n) % header.LogLength;
        }
    }

    /// <summary>Writes one entry's descriptors to the file: data sectors (4 KiB, rebuilt from leading/trailing bytes) and zero runs.</summary>
    private static void Apply(HostFile file, VhdxHeader header, Entry entry, Func<string, Exception> invalid)
    {
        var b = entry.Bytes.AsSpan();
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(b[24..]);
        int dataSector = (int)((64 + (long)count * 32 + Sector - 1) / Sector);
        var sector = new byte[Sector];
        for (int i = 0; i < count; i++)
        {
            var d = b.Slice(64 + i * 32, 32);
            uint signature = BinaryPrimitives.ReadUInt32LittleEndian(d);
            ulong fileOffset = BinaryPrimitives.ReadUInt64LittleEndian(d[16..]);
            ulong sequence = BinaryPrimitives.ReadUInt64LittleEndian(d[24..]);
            if (sequence != entry.Sequence || fileOffset % Sector != 0) throw invalid("Invalid argument");
            if (signature == ZeroDescriptorSignature)
            {
                ulong length = BinaryPrimitives.ReadUInt64LittleEndian(d[8..]);
                if (length % Sector != 0 || fileOffset > MaxFileOffset || length > MaxFileOffset - fileOffset) throw invalid("Invalid argument");
                CheckTarget(header, (long)fileOffset, (long)length, invalid);
                Array.Clear(sector);
                for (ulong done = 0; done < length; done += Sector) file.Write((long)(fileOffset + done), sector);
            }
            else if (signature == DataDescriptorSignature)
            {
                if ((dataSector + 1) * (long)Sector > entry.Length || fileOffset > MaxFileOffset) throw invalid("Invalid argument");
                var data = b.Slice(dataSector++ * Sector, Sector);
                if (BinaryPrimitives.ReadUInt32LittleEndian(data) != DataSectorSignature
                    || ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(data[4..]) << 32 | BinaryPrimitives.ReadUInt32LittleEndian(data[4092..])) != entry.Sequence)
                    throw invalid("Invalid argument");
                CheckTarget(header, (long)fileOffset, Sector, invalid);
                BinaryPrimitives.WriteUInt64LittleEndian(sector, BinaryPrimitives.ReadUInt64LittleEndian(d[8..]));
                data.Slice(8, 4084).CopyTo(sector.AsSpan(8));
                BinaryPrimitives.WriteUInt32LittleEndian(sector.AsSpan(4092), BinaryPrimitives.ReadUInt32LittleEndian(d[4..]));
                file.Write((long)fileOffset, sector);
            }
            else
            {
                throw invalid("Invalid argument");
            }
        }
    }

    /// <summary>A log entry may not rewrite the file identifier, the headers or the log itself.</summary>
    private static void CheckTarget(VhdxHeader header, long offset, long length, Func<string, Exception> invalid)
    {
        long logStart = (long)header.LogOffset, logEnd = logStart + header.LogLength;
        if (offset < VhdxRegionTable.Offset1 || (offset < logEnd && offset + length > logStart)) throw invalid("Invalid argument");
    }
}
