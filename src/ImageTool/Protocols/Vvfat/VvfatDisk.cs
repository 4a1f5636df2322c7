using ImageTool.IO;

namespace ImageTool.Protocols.Vvfat;

/// <summary>
/// qemu's vvfat protocol (<c>fat:[floppy:][12:|16:|32:][rw:]DIR</c>): a host directory read as a FAT disk. The
/// file system's metadata is generated at open; file clusters are read from the host files when asked for.
/// Read-only: <c>rw:</c> (qemu's write-back to the directory) is refused.
/// </summary>
internal sealed class VvfatDisk : IRemoteFile
{
    private const int SectorSize = VvfatLayout.SectorSize;
    private readonly VvfatLayout _layout;

    private VvfatDisk(VvfatName name, VvfatLayout layout)
    {
        Name = name.JsonName;
        _layout = layout;
    }

    public static VvfatDisk Open(string path, bool readOnly, Action<ImageWarning>? warning)
    {
        var name = VvfatName.Parse(path);
        if (name.ReadWrite)
        {
            // qemu refuses rw: on a read-only open; a writable one would commit guest writes to the directory,
            // which img does not do.
            if (readOnly) throw new ImageFormatException("Unable to set VVFAT to 'rw' when drive is read-only");
            throw new ImageFormatException("vvfat 'rw' (writing back to the directory) is not supported by img; drop 'rw:' to use the directory read-only");
        }
        return new VvfatDisk(name, VvfatLayout.Build(name, warning));
    }

    public string Name { get; }

    public long Length => _layout.TotalSectors * SectorSize;

    // Without rw: qemu's node is read-only whatever the open asked for (auto-read-only).
    public bool IsReadOnly => true;

    public void Read(long offset, Span<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            long sector = offset / SectorSize;
            int within = (int)(offset % SectorSize);
            int n = Region(sector, within, buffer);
            offset += n;
            buffer = buffer[n..];
        }
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

    public void Write(long offset, ReadOnlySpan<byte> buffer) => throw new IOException("Block node is read-only");

    public void Flush() { }

    public bool PunchHole(long offset, long length) => false;

    public long? NextData(long offset) => offset < Length ? offset : null;

    public long NextHole(long offset) => Length;

    public void Dispose() { }
}
