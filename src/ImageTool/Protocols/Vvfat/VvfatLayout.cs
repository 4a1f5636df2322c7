using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace ImageTool.Protocols.Vvfat;

/// <summary>
/// The FAT file system qemu 7.2's vvfat generates for a directory (block/vvfat.c, init_directories and
/// read_directory): MBR and boot sector, two identical FATs, the root directory, then the directories and files
/// in the order they were found (each directory's children follow the directories before them, breadth first).
/// Clusters are 8 KiB and numbered from the root directory, so the root's 512 entries are clusters 0 and 1.
/// </summary>
internal sealed class VvfatLayout
{
    public const int SectorSize = 512;
    public const int SectorsPerCluster = 16;
    public const int ClusterSize = SectorSize * SectorsPerCluster;
    private const int RootEntries = 2 * 16 * SectorsPerCluster;

    public int FatType { get; }
    public long TotalSectors { get; }
    public uint OffsetToFat { get; }
    public uint SectorsPerFat { get; }
    public uint OffsetToRootDirectory { get; }
    public uint ClusterCount { get; }

    /// <summary>Sectors before the first FAT: the MBR (hard disks), the gap up to sector 63 and the boot sector.</summary>
    public byte[] FirstSectors { get; }

    /// <summary>One FAT, SectorsPerFat sectors long (both copies are the same).</summary>
    public byte[] Fat { get; }

    public DirectoryTable Directory { get; } = new();

    /// <summary>The host directory shown, as named (without a trailing slash).</summary>
    public string RootPath { get; }

    // The host name behind each short entry of the directory table, by the entry's index.
    private readonly Dictionary<int, byte[]> _hostNames = [];
    public List<VvfatMapping> Mappings { get; } = [];

    private readonly uint _offsetToBootSector;
    private readonly uint _sectorCount;
    private readonly uint _maxFatValue;
    private readonly Action<ImageWarning>? _warning;

    private VvfatLayout(VvfatName name, Action<ImageWarning>? warning)
    {
        _warning = warning;
        int fatType = name.FatType;
        int cylinders, heads, sectors;
        if (name.Floppy)
        {
            // 1.44 MB (FAT12 asked for) or 2.88 MB floppies; no partition table.
            sectors = fatType is 0 or 16 or 32 ? 36 : 18;
            if (fatType == 0) fatType = 12;
            cylinders = 80;
            heads = 2;
        }
        else
        {
            if (fatType == 0) fatType = 16;
            _offsetToBootSector = 63;
            cylinders = fatType == 12 ? 64 : 1024;
            heads = 16;
            sectors = 63;
        }
        if (fatType is not (12 or 16 or 32)) throw new ImageFormatException("Valid FAT types are only 12, 16 and 32");
        if (fatType == 32) warning?.Invoke("img: warning: FAT32 has not been tested. You are welcome to do so!");
        FatType = fatType;
        TotalSectors = (long)cylinders * heads * sectors;
        _sectorCount = (uint)(TotalSectors - _offsetToBootSector);

        uint perFatSector = (uint)(1 + SectorsPerCluster * SectorSize * 8 / fatType);
        SectorsPerFat = (_sectorCount + perFatSector) / perFatSector;
        OffsetToFat = _offsetToBootSector + 1;
        OffsetToRootDirectory = OffsetToFat + SectorsPerFat * 2;
        ClusterCount = (_sectorCount - OffsetToRootDirectory) / SectorsPerCluster;
        _maxFatValue = fatType switch { 12 => 0xFFF, 16 => 0xFFFF, _ => 0x0FFFFFFF };
        Fat = new byte[SectorsPerFat * SectorSize + 4];
        FirstSectors = new byte[OffsetToFat * SectorSize];

        // The volume label is the root directory's first entry.
        var label = Directory[Directory.Add()];
        LabelBytes(name.Label).CopyTo(label);
        label[11] = 0x28;

        RootPath = name.Directory.EndsWith('/') && name.Directory.Length > 0 ? name.Directory[..^1] : name.Directory;
        Mappings.Add(new VvfatMapping(Encoding.UTF8.GetBytes(RootPath), isDirectory: true, parent: -1));
        AssignClusters();

        SetFat(0, _maxFatValue);
        SetFat(1, _maxFatValue);
        byte media = (byte)(_offsetToBootSector > 0 ? 0xF8 : 0xF0);
        Fat[0] = media;
        WriteBootSector(name, media, heads, sectors);
        if (_offsetToBootSector > 0) WriteMbr(cylinders, heads, sectors);
    }

    /// <summary>Scans the directory tree and lays it out; fails as qemu's open does when it does not fit.</summary>
    public static VvfatLayout Build(VvfatName name, Action<ImageWarning>? warning) => new(name, warning);

    private static byte[] LabelBytes(string? label)
    {
        var bytes = Enumerable.Repeat((byte)' ', 11).ToArray();
        byte[] text = Encoding.UTF8.GetBytes(label ?? "QEMU VVFAT");
        if (text.Length > 11) throw new ImageFormatException("vvfat label cannot be longer than 11 bytes");
        text.CopyTo(bytes, 0);
        return bytes;
    }

    private void AssignClusters()
    {
        uint cluster = 0;
        for (int i = 0; i < Mappings.Count; i++)
        {
            var mapping = Mappings[i];
            mapping.Begin = cluster;
            bool chain = i != 0;
            if (mapping.IsDirectory)
            {
                if (!ReadDirectory(i)) throw new ImageFormatException($"Could not read directory {Encoding.UTF8.GetString(mapping.Path)}");
            }
            else
            {
                mapping.End = cluster + 1 + (uint)((mapping.Size - 1) / ClusterSize);
                SetBegin(Directory[mapping.EntryIndex], mapping.Begin);
            }
            cluster = mapping.End;
            if (cluster > ClusterCount)
                throw new ImageFormatException(string.Create(CultureInfo.InvariantCulture,
                    $"Directory does not fit in FAT{FatType} (capacity {_sectorCount / 2000.0:F2} MB)"));
            if (chain)
            {
                for (uint c = mapping.Begin; c < mapping.End - 1; c++) SetFat(c, c + 1);
                SetFat(mapping.End - 1, _maxFatValue);
            }
        }
    }

    // qemu's read_directory: entries in readdir order, "." and ".." first in subdirectories.
    private bool ReadDirectory(int index)
    {
        var mapping = Mappings[index];
        uint firstCluster = mapping.Begin;
        bool isRoot = firstCluster == 0;
        uint parentCluster = mapping.Parent >= 0 ? Mappings[mapping.Parent].Begin : 0;
        var names = HostDirectory.ReadNames(mapping.Path);
        if (names == null)
        {
            mapping.End = mapping.Begin;
            return false;
        }
        int start = isRoot ? 0 : Directory.Count;
        mapping.FirstEntry = start;
        if (!isRoot)
        {
            DotEntry(".");
            DotEntry("..");
        }
        foreach (byte[] entryName in names)
        {
            bool isDot = entryName is [(byte)'.'];
            bool isDotDot = entryName is [(byte)'.', (byte)'.'];
            if (isRoot && Directory.Count >= RootEntries - 1)
            {
                _warning?.Invoke("Too many entries in root directory");
                return false;
            }
            if (isRoot && (isDot || isDotDot)) continue;
            byte[] path = HostDirectory.Join(mapping.Path, entryName);
            if (HostDirectory.Stat(path) is not { } status) continue;

            int entryIndex = isDot ? start : isDotDot ? start + 1 : FatNames.Add(Directory, start, entryName, _warning);
            _hostNames[entryIndex] = entryName;
            var entry = Directory[entryIndex];
            entry[11] = (byte)(status.IsDirectory ? 0x10 : 0x20);
            entry[12] = entry[13] = 0;
            BinaryPrimitives.WriteUInt16LittleEndian(entry[14..], FatTime(status.ChangeTime));
            BinaryPrimitives.WriteUInt16LittleEndian(entry[16..], FatDate(status.ChangeTime));
            BinaryPrimitives.WriteUInt16LittleEndian(entry[18..], FatDate(status.AccessTime));
            BinaryPrimitives.WriteUInt16LittleEndian(entry[22..], FatTime(status.ModifyTime));
            BinaryPrimitives.WriteUInt16LittleEndian(entry[24..], FatDate(status.ModifyTime));
            SetBegin(entry, isDotDot ? parentCluster : isDot ? firstCluster : 0);
            if (status.Size > 0x7FFFFFFF && !status.IsDirectory)
            {
                _warning?.Invoke($"File {Encoding.UTF8.GetString(path)} is larger than 2GB");
                return false;
            }
            BinaryPrimitives.WriteUInt32LittleEndian(entry[28..], status.IsDirectory ? 0 : (uint)status.Size);
            if (!isDot && !isDotDot && (status.IsDirectory || status.Size > 0))
                Mappings.Add(new VvfatMapping(path, status.IsDirectory, index) { EntryIndex = entryIndex, Size = status.Size });
        }

        while (Directory.Count % (ClusterSize / DirectoryTable.EntrySize) != 0) Directory.Add();
        if (FatType != 32 && isRoot) while (Directory.Count < RootEntries) Directory.Add();
        mapping.End = firstCluster + (uint)((Directory.Count - start) * DirectoryTable.EntrySize / ClusterSize);
        SetBegin(Directory[mapping.EntryIndex], mapping.Begin);
        return true;
    }

    /// <summary>The host name of the entry in slot <paramref name="slot"/> of a generated directory cluster.</summary>
    public byte[]? HostName(uint cluster, int slot)
    {
        var directory = Mappings.FirstOrDefault(m => m.IsDirectory && cluster >= m.Begin && cluster < m.End);
        if (directory == null) return null;
        int index = directory.FirstEntry + (int)(cluster - directory.Begin) * (ClusterSize / DirectoryTable.EntrySize) + slot;
        return _hostNames.GetValueOrDefault(index);
    }

    private void DotEntry(string name)
    {
        var entry = Directory[Directory.Add()];
        entry[..11].Fill((byte)' ');
        Encoding.ASCII.GetBytes(name, entry);
    }

    private static void SetBegin(Span<byte> entry, uint cluster)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(entry[26..], (ushort)cluster);
        BinaryPrimitives.WriteUInt16LittleEndian(entry[20..], (ushort)(cluster >> 16));
    }

    private static DateTime Local(long seconds) =>
        TimeZoneInfo.ConvertTime(DateTimeOffset.FromUnixTimeSeconds(seconds), TimeZoneInfo.Local).DateTime;

    private static ushort FatTime(long seconds)
    {
        var t = Local(seconds);
        return (ushort)((t.Second / 2) | (t.Minute << 5) | (t.Hour << 11));
    }

    private static ushort FatDate(long seconds)
    {
        var t = Local(seconds);
        return unchecked((ushort)(t.Day | (t.Month << 5) | ((t.Year - 1980) << 9)));
    }

    private void SetFat(uint cluster, uint value)
    {
        switch (FatType)
        {
            case 32:
                BinaryPrimitives.WriteUInt32LittleEndian(Fat.AsSpan((int)cluster * 4), value);
                break;
            case 16:
                BinaryPrimitives.WriteUInt16LittleEndian(Fat.AsSpan((int)cluster * 2), (ushort)value);
                break;
            default:
                int offset = (int)(cluster * 3 / 2);
                if ((cluster & 1) == 0)
                {
                    Fat[offset] = (byte)value;
                    Fat[offset + 1] = (byte)((uint)(Fat[offset + 1] & 0xF0) | ((value >> 8) & 0x0F));
                }
                else
                {
                    Fat[offset] = (byte)((uint)(Fat[offset] & 0x0F) | ((value & 0x0F) << 4));
                    Fat[offset + 1] = (byte)(value >> 4);
                }
                break;
        }
    }

    private void WriteBootSector(VvfatName name, byte media, int heads, int sectors)
    {
        var boot = FirstSectors.AsSpan((int)_offsetToBootSector * SectorSize, SectorSize);
        boot[0] = 0xEB;
        boot[1] = 0x3E;
        boot[2] = 0x90;
        "MSWIN4.1"u8.CopyTo(boot[3..]);
        BinaryPrimitives.WriteUInt16LittleEndian(boot[11..], SectorSize);
        boot[13] = SectorsPerCluster;
        BinaryPrimitives.WriteUInt16LittleEndian(boot[14..], 1);
        boot[16] = 2;
        BinaryPrimitives.WriteUInt16LittleEndian(boot[17..], RootEntries);
        BinaryPrimitives.WriteUInt16LittleEndian(boot[19..], (ushort)(_sectorCount > 0xFFFF ? 0 : _sectorCount));
        boot[21] = media;
        BinaryPrimitives.WriteUInt16LittleEndian(boot[22..], (ushort)SectorsPerFat);
        BinaryPrimitives.WriteUInt16LittleEndian(boot[24..], (ushort)sectors);
        BinaryPrimitives.WriteUInt16LittleEndian(boot[26..], (ushort)heads);
        BinaryPrimitives.WriteUInt32LittleEndian(boot[28..], _offsetToBootSector);
        BinaryPrimitives.WriteUInt32LittleEndian(boot[32..], _sectorCount > 0xFFFF ? _sectorCount : 0);
        // The FAT12/16 extended block, even for FAT32 (qemu 7.2 never wrote a FAT32 one).
        boot[36] = (byte)(_offsetToBootSector == 0 ? 0 : 0x80);
        boot[38] = 0x29;
        BinaryPrimitives.WriteUInt32LittleEndian(boot[39..], 0xFABE1AFD);
        LabelBytes(name.Label).CopyTo(boot[43..]);
        (FatType == 12 ? "FAT12   "u8 : "FAT16   "u8).CopyTo(boot[54..]);
        boot[510] = 0x55;
        boot[511] = 0xAA;
    }

    private void WriteMbr(int cylinders, int heads, int sectors)
    {
        var mbr = FirstSectors.AsSpan(0, SectorSize);
        BinaryPrimitives.WriteUInt32LittleEndian(mbr[0x1B8..], 0xBE1AFDFA);
        var partition = mbr.Slice(0x1BE, 16);
        partition[0] = 0x80;
        bool lba = Chs(partition[1..4], _offsetToBootSector, cylinders, heads, sectors);
        lba |= Chs(partition[5..8], (uint)(TotalSectors - 1), cylinders, heads, sectors);
        partition[4] = FatType switch { 12 => 0x01, 16 => (byte)(lba ? 0x0E : 0x06), _ => (byte)(lba ? 0x0C : 0x0B) };
        BinaryPrimitives.WriteUInt32LittleEndian(partition[8..], _offsetToBootSector);
        BinaryPrimitives.WriteUInt32LittleEndian(partition[12..], (uint)(TotalSectors - _offsetToBootSector));
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
    }

    // Head, sector (with the cylinder's top bits), cylinder; true (and all 0xFF) past the geometry.
    private static bool Chs(Span<byte> chs, uint sector, int cylinders, int heads, int sectors)
    {
        uint s = sector % (uint)sectors;
        sector /= (uint)sectors;
        uint head = sector % (uint)heads;
        sector /= (uint)heads;
        if (sector >= cylinders)
        {
            chs.Fill(0xFF);
            return true;
        }
        chs[0] = (byte)head;
        chs[1] = (byte)((s + 1) | ((sector >> 8) << 6));
        chs[2] = (byte)sector;
        return false;
    }
}
