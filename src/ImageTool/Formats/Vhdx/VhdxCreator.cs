using System.Buffers.Binary;
using System.Text;
using ImageTool.IO;

namespace ImageTool.Formats.Vhdx;

/// <summary>
/// qemu's vhdx_co_create, byte for byte apart from its random GUIDs and header sequence number: file identifier,
/// two headers, two region tables, an empty log, the BAT and the metadata region, data from BAT end + 5 MiB.
/// </summary>
internal static class VhdxCreator
{
    private const long MiB = 1 << 20;
    private const long MaxImageSize = 64L << 40;
    private const uint SectorSize = 512;

    /// <summary>qemu writes its own version as the creator; so do we, to give identical files.</summary>
    private const string Creator = "QEMU v7.2.22";

    public static void Create(string path, CreateParameters parameters)
    {
        using var file = HostFile.Create(path);
        var options = parameters.Options;
        string subformat = options.GetString("subformat") ?? "dynamic";
        if (subformat is not ("dynamic" or "fixed"))
            throw new ImageFormatException($"Parameter 'subformat' does not accept value '{subformat}'");
        bool isFixed = subformat == "fixed";
        bool zeroBlocks = options.GetBool("block_state_zero") ?? true;
        // qemu-img's option layer rounds both sizes up to whole MiB and clamps the block size to 256 MiB.
        long logSize = options.GetSize("log_size") is { } l ? RoundUp(l, MiB) : MiB;
        long blockSize = options.GetSize("block_size") is { } b ? Math.Min(RoundUp(b, MiB), 256 * MiB) : 0;
        long size = parameters.Size;
        if (size > MaxImageSize) throw new ImageFormatException("Image size too large; max of 64TB");
        size = RoundUp(size, SectorSize);
        if (logSize < MiB || logSize % MiB != 0 || logSize > uint.MaxValue) throw new ImageFormatException("Log size must be a multiple of 1 MB");
        if (blockSize == 0)
            blockSize = size > 32L << 40 ? 64 * MiB : size > 100L << 30 ? 32 * MiB : size > 1L << 30 ? 16 * MiB : 8 * MiB;
        if (blockSize < MiB || blockSize % MiB != 0) throw new ImageFormatException("Block size must be a multiple of 1 MB");
        if (!long.IsPow2(blockSize)) throw new ImageFormatException("Block size must be a power of two");

        long chunkRatio = (1L << 23) * SectorSize / blockSize;
        long entries = VhdxBatEntry.Count((ulong)size, (uint)blockSize, chunkRatio, asQemuCreates: true);
        long batOffset = RoundUp(MiB + logSize, MiB);
        long batLength = RoundUp(entries * 8, MiB);
        long metadataOffset = RoundUp(batOffset + batLength, MiB);
        long dataOffset = batOffset + batLength + 5 * MiB;
        if (batLength > uint.MaxValue) throw new ImageFormatException("Image size too large; max of 64TB");

        // File identifier: signature and the creator in UTF-16LE.
        var head = new byte[64 << 10];
        "vhdxfile"u8.CopyTo(head);
        Encoding.Unicode.GetBytes(Creator).CopyTo(head, 8);

        file.SetLength(isFixed ? dataOffset + size : dataOffset);
        if (isFixed || zeroBlocks)
        {
            var bat = new byte[batLength];
            for (long block = 0, sector = 0; sector < size / SectorSize; block++, sector += blockSize / SectorSize)
            {
                int state = isFixed ? VhdxBatEntry.FullyPresent : VhdxBatEntry.NotPresent;
                if (zeroBlocks) state = VhdxBatEntry.Zero;
                long at = RoundUp(dataOffset + sector * SectorSize, MiB);
                ulong entry = state == VhdxBatEntry.FullyPresent ? VhdxBatEntry.Make(at, state) : (ulong)state;
                BinaryPrimitives.WriteUInt64LittleEndian(bat.AsSpan((int)(VhdxBatEntry.PayloadIndex(block, chunkRatio) * 8)), entry);
            }
            file.Write(batOffset, bat);
        }

        var table = new VhdxRegionTable([
            new VhdxRegion(VhdxRegionTable.BatGuid, (ulong)batOffset, (uint)batLength, false),
            new VhdxRegion(VhdxRegionTable.MetadataGuid, (ulong)metadataOffset, (uint)MiB, false),
        ]);
        var tableBytes = new byte[VhdxRegionTable.Size];
        table.Write(tableBytes);

        var header = new VhdxHeader((uint)Random.Shared.NextInt64(0, 1L << 32), VhdxImage.NewGuid(), VhdxImage.NewGuid(), Guid.Empty,
            0, 1, (uint)logSize, (ulong)MiB);
        var h1 = new byte[VhdxHeader.Size];
        var h2 = new byte[VhdxHeader.Size];
        header.Write(h1);
        (header with { SequenceNumber = header.SequenceNumber + 1 }).Write(h2);

        var metadata = new byte[MiB];
        new VhdxMetadata((uint)blockSize, isFixed, false, (ulong)size, VhdxImage.NewGuid(), SectorSize, SectorSize).Write(metadata);

        file.Write(0, head);
        file.Write(VhdxHeader.Offset1, h1);
        file.Write(VhdxHeader.Offset2, h2);
        file.Write(VhdxRegionTable.Offset1, tableBytes);
        file.Write(VhdxRegionTable.Offset2, tableBytes);
        file.Write(metadataOffset, metadata.AsSpan(0, (int)(VhdxMetadata.TableSize + 40)));
        file.Flush();
    }

    private static long RoundUp(long value, long unit) => (value + unit - 1) / unit * unit;
}
