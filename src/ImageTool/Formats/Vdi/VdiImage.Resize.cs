using System.Buffers.Binary;

namespace ImageTool.Formats.Vdi;

/// <summary>
/// Resize (qemu 7.2 has none for vdi). Growing past the room the block map has moves the first data blocks to the
/// end of the file, as VirtualBox does, so the map can take their place; shrinking moves the last stored blocks into
/// the slots the dropped blocks free, so the file ends after the blocks still in use.
/// </summary>
internal sealed partial class VdiImage : IResizable
{
    public void Resize(long size, string preallocation)
    {
        if (preallocation != "off") throw new UnsupportedFeatureException($"Unsupported preallocation mode '{preallocation}'");
        ulong diskSize = ((ulong)size + VdiHeader.SectorBytes - 1) / VdiHeader.SectorBytes * VdiHeader.SectorBytes;
        if (diskSize > VdiHeader.MaxDiskSize)
            throw new ImageFormatException($"Unsupported VDI image size (size is 0x{diskSize:x}, max supported is 0x{VdiHeader.MaxDiskSize:x})");
        if (_bmap.Length < _header.BlocksInImage) throw new ImageFormatException("Cannot resize a VDI image whose block map is truncated");
        uint blocks = (uint)((diskSize + (ulong)_blockSize - 1) / (ulong)_blockSize);
        lock (_writeLock)
        {
            ZeroTail(Math.Min(Length, (long)diskSize));
            if (blocks >= _bmap.Length) Grow(diskSize, blocks);
            else Shrink(diskSize, blocks);
            Length = (long)_header.RoundedDiskSize;
        }
    }

    /// <summary>What a stored last block holds past the new end would show again after a later grow.</summary>
    private void ZeroTail(long end)
    {
        long block = end / _blockSize;
        int inBlock = (int)(end % _blockSize);
        if (inBlock == 0 || block >= _bmap.Length || !IsAllocated(_bmap[block])) return;
        _file.Write(DataOffset(_bmap[block]) + inBlock, new byte[_blockSize - inBlock]);
    }

    private void Grow(ulong diskSize, uint blocks)
    {
        long mapRoom = _header.OffsetData - _header.OffsetBmap;
        long mapBytes = ((long)blocks * 4 + VdiHeader.SectorBytes - 1) / VdiHeader.SectorBytes * VdiHeader.SectorBytes;
        // The map grows over whole blocks, so the blocks after them keep their place (their index drops by moved).
        uint moved = mapBytes <= mapRoom ? 0 : (uint)((mapBytes - mapRoom + _blockSize - 1) / _blockSize);
        uint allocated = _blocksAllocated;
        uint firstFree = Math.Max(allocated, moved);
        for (uint index = 0; index < Math.Min(moved, allocated); index++)
            CopyBlock(DataOffset(index), DataOffset(firstFree + index));
        uint Renumber(uint entry) => !IsAllocated(entry) ? entry : entry >= moved ? entry - moved : firstFree - moved + entry;

        bool isStatic = _header.ImageType == VdiHeader.TypeStatic;
        var map = new uint[blocks];
        for (long i = 0; i < map.Length; i++)
            map[i] = i < _bmap.Length ? Renumber(_bmap[i]) : isStatic ? allocated++ : VdiHeader.Unallocated;
        uint offsetData = (uint)(_header.OffsetData + (long)moved * _blockSize);
        Commit(map, diskSize, offsetData, allocated);
        if (isStatic) _file.SetLength(offsetData + (long)allocated * _blockSize);
    }

    private void Shrink(ulong diskSize, uint blocks)
    {
        var map = _bmap[..(int)blocks];
        var kept = new HashSet<uint>(map.Where(IsAllocated));
        uint allocated = (uint)kept.Count;
        // Stored blocks at or past the new count move into the slots below it that no kept entry uses.
        var slots = new Queue<uint>(Enumerable.Range(0, (int)allocated).Select(i => (uint)i).Where(i => !kept.Contains(i)));
        var moved = new Dictionary<uint, uint>();
        for (int i = 0; i < map.Length; i++)
        {
            if (!IsAllocated(map[i]) || map[i] < allocated) continue;
            if (!moved.TryGetValue(map[i], out uint slot))
            {
                slot = slots.Dequeue();
                CopyBlock(DataOffset(map[i]), DataOffset(slot));
                moved[map[i]] = slot;
            }
            map[i] = slot;
        }
        Commit(map, diskSize, _header.OffsetData, allocated);
        _file.SetLength(DataOffset(allocated));
    }

    /// <summary>The map (padded with zeros up to the data), then the header that makes it count.</summary>
    private void Commit(uint[] map, ulong diskSize, uint offsetData, uint allocated)
    {
        var raw = new byte[offsetData - _header.OffsetBmap];
        for (int i = 0; i < map.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(i * 4), map[i]);
        _file.Write(_header.OffsetBmap, raw);
        _header = _header.Resized(diskSize, (uint)map.Length, offsetData, allocated);
        _file.Write(0, _header.Raw);
        _bmap = map;
        _blocksAllocated = allocated;
    }

    private void CopyBlock(long from, long to)
    {
        var block = new byte[_blockSize];
        _file.Read(from, block);
        _file.Write(to, block);
    }
}
