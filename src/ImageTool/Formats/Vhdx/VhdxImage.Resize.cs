using System.Buffers.Binary;

namespace ImageTool.Formats.Vhdx;

/// <summary>
/// Resize (qemu 7.2 has none for vhdx): the virtual size item of the metadata and the BAT change; blocks past a
/// shrunken end become not present (their space stays in the file, as after any VHDX trim). A grow past the room
/// of the BAT region (qemu creates it MiB-sized, enough for hundreds of GiB) moves the BAT to a larger region at
/// the end of the file, as the spec lets regions lie anywhere past the first MiB; the old region is left unused.
/// </summary>
internal sealed partial class VhdxImage : IResizable
{
    public void Resize(long size, string preallocation)
    {
        if (preallocation != "off") throw new UnsupportedFeatureException($"Unsupported preallocation mode '{preallocation}'");
        long sector = _metadata.LogicalSectorSize;
        long length = (size + sector - 1) / sector * sector;
        if (length > MaxImageSize) throw new ImageFormatException("Image size too large; max of 64TB");
        long entries = VhdxBatEntry.Count((ulong)length, (uint)_blockSize, _chunkRatio);
        lock (_writeLock)
        {
            BeginSession();
            if (entries > _batCapacity) MoveBat(entries);
            ZeroTail(Math.Min(Length, length));
            var bat = new ulong[entries];
            Array.Copy(_bat, bat, Math.Min(entries, _bat.Length));
            // Sector bitmap entries past the new end go too: nothing reads them (qemu writes none).
            var raw = new byte[Math.Max(entries, _bat.Length) * 8];
            for (int i = 0; i < bat.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(i * 8), bat[i]);
            _file.Write(_batOffset, raw);
            WriteVirtualSize((ulong)length);
            _file.Flush();
            _bat = bat;
            _metadata = _metadata with { VirtualSize = (ulong)length };
            Length = LengthOf(_metadata);
        }
    }

    /// <summary>
    /// Copies the BAT to a new MiB-aligned region at the end of the file with room for <paramref name="entries"/>,
    /// then points both region tables at it: until they are written, the old BAT is the one in use.
    /// </summary>
    private void MoveBat(long entries)
    {
        long capacity = (entries * 8 + MiB - 1) / MiB * MiB;
        if (capacity > uint.MaxValue) throw new ImageFormatException("Image size too large; max of 64TB");
        long at = (_file.Length + MiB - 1) / MiB * MiB;
        var raw = new byte[_bat.Length * 8];
        for (int i = 0; i < _bat.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(i * 8), _bat[i]);
        _file.SetLength(at + capacity);
        _file.Write(at, raw);
        _file.Flush();

        var tableBytes = new byte[VhdxRegionTable.Size];
        _file.Read(VhdxRegionTable.Offset1, tableBytes);
        var table = VhdxRegionTable.TryRead(tableBytes) ?? throw new ImageFormatException("VHDX region table is corrupt");
        var moved = table.Entries
            .Select(e => e.Guid == VhdxRegionTable.BatGuid ? e with { FileOffset = (ulong)at, Length = (uint)capacity } : e)
            .ToArray();
        new VhdxRegionTable(moved).Write(tableBytes);
        _file.Write(VhdxRegionTable.Offset1, tableBytes);
        _file.Write(VhdxRegionTable.Offset2, tableBytes);
        _file.Flush();

        _regions.Remove((_batOffset, _batOffset + _batCapacity * 8));
        _regions.Add((at, at + capacity));
        _batOffset = at;
        _batCapacity = capacity / 8;
    }

    /// <summary>The value of the virtual disk size item, found through the metadata table.</summary>
    private void WriteVirtualSize(ulong size)
    {
        var table = new byte[VhdxMetadata.TableSize];
        _file.Read(_metadataOffset, table);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(table.AsSpan(10));
        for (int i = 0; i < Math.Min(count, VhdxMetadata.MaxEntries); i++)
        {
            var entry = table.AsSpan(32 + i * 32, 32);
            if (new Guid(entry[..16]) != VhdxMetadata.VirtualSizeGuid) continue;
            Span<byte> value = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(value, size);
            _file.Write(_metadataOffset + BinaryPrimitives.ReadUInt32LittleEndian(entry[16..]), value);
            return;
        }
        throw new ImageFormatException("VHDX metadata has no virtual disk size");
    }

    /// <summary>What a stored block holds past the end would show again after a later grow.</summary>
    private void ZeroTail(long end)
    {
        long block = end / _blockSize;
        int inBlock = (int)(end % _blockSize);
        if (inBlock == 0 || VhdxBatEntry.PayloadIndex(block, _chunkRatio) >= _bat.Length) return;
        ulong entry = Entry(block);
        if (VhdxBatEntry.State(entry) != VhdxBatEntry.FullyPresent) return;
        _file.Write(VhdxBatEntry.FileOffset(entry) + inBlock, new byte[_blockSize - inBlock]);
    }
}
