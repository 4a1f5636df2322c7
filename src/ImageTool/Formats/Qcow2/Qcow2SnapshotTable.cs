using System.Buffers.Binary;
using System.Text;
using ImageTool.IO;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// Reads and serialises the snapshot table (FORMATS.md §6.1): entries start 8-byte aligned; the table's length is the
/// unpadded end of the last entry. Limits and messages are qemu 7.2's (block/qcow2-snapshot.c, block/qcow2.c).
/// </summary>
internal static class Qcow2SnapshotTable
{
    public const int MaxSnapshots = 65536;
    public const int MaxExtraData = 1024;
    public const long MaxTableSize = 64L * 1024 * 1024;
    private const int HeaderSize = 40;
    private const int KnownExtraSize = 24;

    /// <summary>
    /// Parses <paramref name="count"/> entries at <paramref name="offset"/>; returns them and the table's byte length.
    /// Like qemu, bytes past the end of the file read as zeros (the size limits bound the work).
    /// </summary>
    public static (List<Qcow2Snapshot> Snapshots, long Size) Read(HostFile file, long offset, int count, int clusterSize, long virtualSize)
    {
        var list = new List<Qcow2Snapshot>();
        if (count == 0) return (list, 0);
        if (count < 0 || count > MaxSnapshots) throw new ImageCorruptException("Snapshot table too large");
        if (offset <= 0 || offset % clusterSize != 0) throw new ImageCorruptException("Snapshot table offset invalid");

        long pos = offset;
        Span<byte> h = stackalloc byte[HeaderSize + KnownExtraSize];
        for (int i = 0; i < count; i++)
        {
            pos = (pos + 7) & ~7L;
            file.Read(pos, h[..HeaderSize]);
            long l1Offset = BinaryPrimitives.ReadInt64BigEndian(h);
            uint l1Size = BinaryPrimitives.ReadUInt32BigEndian(h[8..]);
            int idLen = BinaryPrimitives.ReadUInt16BigEndian(h[12..]);
            int nameLen = BinaryPrimitives.ReadUInt16BigEndian(h[14..]);
            uint extraSize = BinaryPrimitives.ReadUInt32BigEndian(h[36..]);
            if (extraSize > MaxExtraData)
                throw new ImageCorruptException($"Too much extra metadata in snapshot table entry {i}");

            long entryEnd = pos + HeaderSize + extraSize + idLen + nameLen;
            if (entryEnd - offset > MaxTableSize) throw new ImageCorruptException("Snapshot table is too big");

            var rest = new byte[extraSize + idLen + nameLen];
            file.Read(pos + HeaderSize, rest);
            var extra = rest.AsSpan(0, (int)extraSize);
            ulong vmState = BinaryPrimitives.ReadUInt32BigEndian(h[32..]);
            if (extraSize >= 8) vmState = BinaryPrimitives.ReadUInt64BigEndian(extra);
            long diskSize = extraSize >= 16 ? BinaryPrimitives.ReadInt64BigEndian(extra[8..]) : virtualSize;
            ulong icount = extraSize >= 24 ? BinaryPrimitives.ReadUInt64BigEndian(extra[16..]) : ulong.MaxValue;

            list.Add(new Qcow2Snapshot
            {
                L1TableOffset = l1Offset,
                L1Size = (int)Math.Min(l1Size, int.MaxValue), // checked where the table is used, as qemu does
                DateSec = BinaryPrimitives.ReadUInt32BigEndian(h[16..]),
                DateNsec = BinaryPrimitives.ReadUInt32BigEndian(h[20..]),
                VmClockNsec = BinaryPrimitives.ReadUInt64BigEndian(h[24..]),
                VmStateSize = vmState,
                DiskSize = diskSize,
                Icount = icount,
                UnknownExtraData = extraSize > KnownExtraSize ? extra[KnownExtraSize..].ToArray() : [],
                Id = CString(rest.AsSpan((int)extraSize, idLen)),
                Name = CString(rest.AsSpan((int)extraSize + idLen, nameLen)),
            });
            pos = entryEnd;
        }
        return (list, pos - offset);
    }

    /// <summary>qemu keeps IDs and names as C strings: a NUL ends them (and a rewrite stores them that short).</summary>
    private static string CString(ReadOnlySpan<byte> bytes)
    {
        int nul = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul < 0 ? bytes : bytes[..nul]);
    }

    /// <summary>The serialised table as qemu writes it (extra data at least 24 bytes, unknown extra bytes kept).</summary>
    public static byte[] Serialize(IReadOnlyList<Qcow2Snapshot> snapshots)
    {
        long size = 0;
        foreach (var s in snapshots)
        {
            size = (size + 7) & ~7L;
            size += HeaderSize + KnownExtraSize + s.UnknownExtraData.Length + Encoding.UTF8.GetByteCount(s.Id) + Encoding.UTF8.GetByteCount(s.Name);
            if (size > MaxTableSize) throw new ImageFormatException("Snapshot table is too big");
        }
        var table = new byte[size];
        long pos = 0;
        foreach (var s in snapshots)
        {
            pos = (pos + 7) & ~7L;
            var e = table.AsSpan((int)pos);
            byte[] id = Encoding.UTF8.GetBytes(s.Id);
            byte[] name = Encoding.UTF8.GetBytes(s.Name);
            if (id.Length > ushort.MaxValue || name.Length > ushort.MaxValue) throw new ArgumentException("Snapshot ID or name too long");
            BinaryPrimitives.WriteInt64BigEndian(e, s.L1TableOffset);
            BinaryPrimitives.WriteInt32BigEndian(e[8..], s.L1Size);
            BinaryPrimitives.WriteUInt16BigEndian(e[12..], (ushort)id.Length);
            BinaryPrimitives.WriteUInt16BigEndian(e[14..], (ushort)name.Length);
            BinaryPrimitives.WriteUInt32BigEndian(e[16..], s.DateSec);
            BinaryPrimitives.WriteUInt32BigEndian(e[20..], s.DateNsec);
            BinaryPrimitives.WriteUInt64BigEndian(e[24..], s.VmClockNsec);
            // A VM state too big for 32 bits leaves the old field 0 so old readers see a disk-only snapshot.
            BinaryPrimitives.WriteUInt32BigEndian(e[32..], s.VmStateSize <= uint.MaxValue ? (uint)s.VmStateSize : 0);
            int extraSize = KnownExtraSize + s.UnknownExtraData.Length;
            BinaryPrimitives.WriteInt32BigEndian(e[36..], extraSize);
            BinaryPrimitives.WriteUInt64BigEndian(e[40..], s.VmStateSize);
            BinaryPrimitives.WriteInt64BigEndian(e[48..], s.DiskSize);
            BinaryPrimitives.WriteUInt64BigEndian(e[56..], s.Icount);
            s.UnknownExtraData.CopyTo(e[64..]);
            int p = HeaderSize + extraSize;
            id.CopyTo(e[p..]);
            name.CopyTo(e[(p + id.Length)..]);
            pos += p + id.Length + name.Length;
        }
        return table;
    }

    /// <summary>qemu's new ID: the largest numeric ID (strtoul prefix) plus one.</summary>
    public static string NextId(IReadOnlyList<Qcow2Snapshot> snapshots)
    {
        ulong max = 0;
        foreach (var s in snapshots)
        {
            ulong v = 0;
            foreach (char c in s.Id.TrimStart())
            {
                if (c is < '0' or > '9') break;
                v = unchecked(v * 10 + (ulong)(c - '0'));
            }
            max = Math.Max(max, v);
        }
        return (max + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}
