using System.Buffers.Binary;

namespace ImageTool.Tests.Codecs;

/// <summary>Test helper: the stored bytes of one guest cluster of a qcow2 file written by qemu (no snapshots, no extended L2).</summary>
internal static class QemuClusterDump
{
    public static (ulong Entry, byte[] Stored) Read(string path, long guestOffset)
    {
        byte[] file = File.ReadAllBytes(path);
        int clusterBits = BinaryPrimitives.ReadInt32BigEndian(file.AsSpan(20));
        long l1Offset = BinaryPrimitives.ReadInt64BigEndian(file.AsSpan(40));
        int clusterSize = 1 << clusterBits;
        long l2Entries = clusterSize / 8;
        long cluster = guestOffset >> clusterBits;
        ulong l1 = BinaryPrimitives.ReadUInt64BigEndian(file.AsSpan((int)(l1Offset + cluster / l2Entries * 8)));
        long l2Offset = (long)(l1 & 0x00FFFFFFFFFFFE00UL);
        ulong entry = BinaryPrimitives.ReadUInt64BigEndian(file.AsSpan((int)(l2Offset + cluster % l2Entries * 8)));
        if ((entry & (1UL << 62)) == 0)
        {
            long host = (long)(entry & 0x00FFFFFFFFFFFE00UL);
            return (entry, file.AsSpan((int)host, clusterSize).ToArray());
        }
        int shift = 62 - (clusterBits - 8);
        long offset = (long)(entry & ((1UL << shift) - 1));
        long sectors = (long)((entry >> shift) & ((1UL << (clusterBits - 8)) - 1));
        long length = (sectors + 1) * 512 - (offset & 511);
        length = Math.Min(length, file.Length - offset);
        return (entry, file.AsSpan((int)offset, (int)length).ToArray());
    }
}
