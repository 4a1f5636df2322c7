using ImageTool.IO;

namespace ImageTool.Protocols.Vvfat;

/// <summary>
/// qemu's vvfat protocol (<c>fat:[floppy:][12:|16:|32:][rw:]DIR</c>): a host directory read as a FAT disk. The
/// file system's metadata is generated at open; file clusters are read from the host files when asked for.
/// With <c>rw:</c> the guest's writes go back to the directory (<see cref="VvfatWriteBack"/>).
/// </summary>
internal sealed class VvfatDisk : IRemoteFile
{
    private const int SectorSize = VvfatLayout.SectorSize;
    private readonly VvfatLayout _layout;
    private readonly VvfatWriteBack? _writeBack;
    private readonly Lock _lock = new();

    private VvfatDisk(VvfatName name, VvfatLayout layout, Action<ImageWarning>? warning)
    {
        Name = name.JsonName;
        _layout = layout;
        if (name.ReadWrite) _writeBack = new VvfatWriteBack(layout, ReadView, warning);
    }

    public static VvfatDisk Open(string path, bool readOnly, Action<ImageWarning>? warning)
    {
        var name = VvfatName.Parse(path);
        if (name.ReadWrite && readOnly) throw new ImageFormatException("Unable to set VVFAT to 'rw' when drive is read-only");
        return new VvfatDisk(name, VvfatLayout.Build(name, warning), warning);
    }

    public string Name { get; }

    public long Length => _layout.TotalSectors * SectorSize;

    // Without rw: qemu's node is read-only whatever the open asked for (auto-read-only).
    public bool IsReadOnly => _writeBack == null;

    public void Read(long offset, Span<byte> buffer)
    {
        if (_writeBack == null)
        {
            ReadView(offset, buffer);
            return;
        }
        lock (_lock) ReadView(offset, buffer);
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        if (_writeBack == null) throw new IOException("Block node is read-only");
        lock (_lock)
        {
            // Whole sectors: what the guest saw, and the same with the write laid over it.
            long first = offset / SectorSize;
            long end = (offset + buffer.Length + SectorSize - 1) / SectorSize;
            var before = new byte[(end - first) * SectorSize];
            ReadView(first * SectorSize, before);
            var after = (byte[])before.Clone();
            buffer.CopyTo(after.AsSpan((int)(offset - first * SectorSize)));
            _writeBack.Write(first, after, before);
        }
    }

    // The disk as the guest sees it: generated or host bytes, with the sectors written and not yet handed back.
    private void ReadView(long offset, Span<byte> buffer)
    {
        long start = offset, whole = buffer.Length;
        var all = buffer;
        while (buffer.Length > 0)
        {
            long sector = offset / SectorSize;
            int within = (int)(offset % SectorSize);
            int n = Region(sector, within, buffer);
            offset += n;
            buffer = buffer[n..];
        }
        if (_writeBack == null) return;
        // The overlay works in sectors; a read that starts or ends inside one is patched through a bounce buffer.
        long first = start / SectorSize;
        if (start % SectorSize == 0 && whole % SectorSize == 0)
        {
            _writeBack.Overlay.PatchInto(first, all);
            return;
        }
        long end = (start + whole + SectorSize - 1) / SectorSize;
        if (!_writeBack.Overlay.Any(first, (int)(end - first))) return;
        var bounce = new byte[(end - first) * SectorSize];
        all.CopyTo(bounce.AsSpan((int)(start - first * SectorSize)));
        _writeBack.Overlay.PatchInto(first, bounce);
        bounce.AsSpan((int)(start - first * SectorSize), (int)whole).CopyTo(all);
    }

    // Fills the start of buffer from the region holding the sector; returns how many bytes it filled.
    private int Region(long sector, int within, Span<byte> buffer)
    {
        long fat = _layout.OffsetToFat, perFat = _layout.SectorsPerFat, root = _layout.OffsetToRootDirectory;
        if (sector < root)
        {
            ReadOnlySpan<byte> source;
            long start;
            if (sector < fat)
            {
                source = _layout.FirstSectors;
                start = 0;
            }
            else
            {
                source = _layout.Fat.AsSpan(0, (int)(perFat * SectorSize));
                start = sector < fat + perFat ? fat : fat + perFat;
            }
            long end = sector < fat ? fat : sector < fat + perFat ? fat + perFat : root;
            int length = (int)Math.Min(buffer.Length, (end - sector) * SectorSize - within);
            source.Slice((int)((sector - start) * SectorSize + within), length).CopyTo(buffer);
            return length;
        }
        long clusterOffset = (sector - root) * SectorSize + within;
        uint cluster = (uint)(clusterOffset / VvfatLayout.ClusterSize);
        int inCluster = (int)(clusterOffset % VvfatLayout.ClusterSize);
        if (_writeBack != null && cluster >= 2)
        {
            int length = Math.Min(buffer.Length, VvfatLayout.ClusterSize - inCluster);
            if (_writeBack.ReadFileCluster(cluster, inCluster, buffer[..length])) return length;
            // Past the last write-back, only the generated directories read as they were made.
            if (Find(cluster) is not { IsDirectory: true })
            {
                buffer[..length].Clear();
                return length;
            }
        }
        var mapping = cluster > _layout.ClusterCount ? null : Find(cluster);
        if (mapping == null)
        {
            // Clusters no file uses read as zeros, as do sectors past the last cluster.
            int zeros = Math.Min(buffer.Length, VvfatLayout.ClusterSize - inCluster);
            buffer[..zeros].Clear();
            return zeros;
        }
        long fromRun = (long)(cluster - mapping.Begin) * VvfatLayout.ClusterSize + inCluster;
        int count = (int)Math.Min(buffer.Length, (long)(mapping.End - mapping.Begin) * VvfatLayout.ClusterSize - fromRun);
        var target = buffer[..count];
        if (mapping.IsDirectory)
        {
            _layout.Directory.Bytes.Slice(mapping.FirstEntry * DirectoryTable.EntrySize + (int)fromRun, count).CopyTo(target);
        }
        else
        {
            // The slack after a file's end reads as zeros (qemu shows stale buffer bytes there).
            int data = (int)Math.Clamp(mapping.Size - fromRun, 0, count);
            HostDirectory.ReadFile(mapping.Path, fromRun, target[..data]);
            target[data..].Clear();
        }
        return count;
    }

    private VvfatMapping? Find(uint cluster)
    {
        var mappings = _layout.Mappings;
        int lo = 0, hi = mappings.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            var m = mappings[mid];
            if (cluster < m.Begin) hi = mid - 1;
            else if (cluster >= m.End) lo = mid + 1;
            else return m;
        }
        return null;
    }

    public void Flush() { }

    public bool PunchHole(long offset, long length) => false;

    public long? NextData(long offset) => offset < Length ? offset : null;

    public long NextHole(long offset) => Length;

    public void Dispose() => _writeBack?.Dispose();
}
