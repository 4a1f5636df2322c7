using System.Buffers.Binary;
using System.Text;

namespace ImageTool.Protocols.Vvfat;

/// <summary>
/// Reads the file system a writable vvfat disk holds now (its first FAT and the directories from the root down)
/// and checks it is whole, as qemu's is_consistent does before writing anything back: every chain ends, no
/// cluster is used twice, each file's chain matches its size, and no cluster is allocated that nothing uses
/// (a guest half way through a change). Returns null, with the reason, while it is not.
/// </summary>
internal sealed class FatScanner
{
    private const int EntriesPerCluster = VvfatLayout.ClusterSize / DirectoryTable.EntrySize;
    private const int RootClusters = 2;
    private const int MaxPath = 4095;

    private readonly VvfatLayout _layout;
    private readonly Action<long, Span<byte>> _read;
    private readonly byte[] _fat;
    private readonly bool[] _used;
    private readonly uint _endOfChain, _bad;

    private FatScanner(VvfatLayout layout, Action<long, Span<byte>> read)
    {
        _layout = layout;
        _read = read;
        _fat = new byte[layout.SectorsPerFat * VvfatLayout.SectorSize];
        read(layout.OffsetToFat * (long)VvfatLayout.SectorSize, _fat);
        _used = new bool[layout.ClusterCount];
        uint max = layout.FatType switch { 12 => 0xFFF, 16 => 0xFFFF, _ => 0x0FFFFFFF };
        _endOfChain = max - 7;
        _bad = max - 8;
    }

    /// <summary>The tree the disk read through <paramref name="read"/> (byte offset, buffer) holds, or null.</summary>
    public static FatNode? Scan(VvfatLayout layout, Action<long, Span<byte>> read, out string? problem)
    {
        var scanner = new FatScanner(layout, read);
        var root = new FatNode { Name = "", IsDirectory = true, Chain = [0, 1] };
        problem = scanner.ReadTree(root) ?? scanner.Leftovers();
        return problem == null ? root : null;
    }

    private string? ReadTree(FatNode root)
    {
        var pending = new Queue<(FatNode Node, int PathLength)>([(root, 0)]);
        while (pending.TryDequeue(out var item))
        {
            string? problem = ReadDirectory(item.Node, item.PathLength, pending);
            if (problem != null) return problem;
        }
        return null;
    }

    private string? ReadDirectory(FatNode directory, int pathLength, Queue<(FatNode, int)> pending)
    {
        var cluster = new byte[VvfatLayout.ClusterSize];
        // Names differing only in case are two host files (FAT's own lookups are the guest's business).
        var names = new HashSet<string>(StringComparer.Ordinal);
        var longName = new LongName();
        foreach (uint c in directory.Chain)
        {
            _read(ClusterOffset(c), cluster);
            for (int slot = 0; slot < EntriesPerCluster; slot++)
            {
                var entry = cluster.AsSpan(slot * DirectoryTable.EntrySize, DirectoryTable.EntrySize);
                if (entry[0] == 0) return null;     // the end of the directory
                byte attributes = entry[11];
                if (entry[0] == 0xE5)
                {
                    longName.Reset();
                    continue;
                }
                if (attributes == DirectoryTable.LongNameAttributes)
                {
                    longName.Add(entry);
                    continue;
                }
                if ((attributes & 0x08) != 0 || entry[0] == '.')
                {
                    longName.Reset();
                    continue;
                }
                string? name = longName.For(entry[..11]) ?? ShortName(entry[..11]);
                longName.Reset();
                if (name == null || name is "." or ".." || name.Contains('/') || name.Contains('\0'))
                    return $"invalid name in directory at cluster {c}";
                if (!names.Add(name)) return $"'{name}' appears twice in one directory";
                int childPath = pathLength + 1 + Encoding.UTF8.GetByteCount(name);
                if (childPath > MaxPath) return $"name too long: {name}";

                bool isDirectory = (attributes & 0x10) != 0;
                uint first = BinaryPrimitives.ReadUInt16LittleEndian(entry[26..]);
                if (_layout.FatType == 32) first |= (uint)BinaryPrimitives.ReadUInt16LittleEndian(entry[20..]) << 16;
                uint size = isDirectory ? 0 : BinaryPrimitives.ReadUInt32LittleEndian(entry[28..]);
                uint[]? chain = first == 0 ? [] : Follow(first);
                if (chain == null) return $"bad cluster chain for '{name}'";
                if (isDirectory ? chain.Length == 0 : chain.Length != (size + (long)VvfatLayout.ClusterSize - 1) / VvfatLayout.ClusterSize)
                    return $"'{name}' does not match its clusters";
                var node = new FatNode { Name = name, IsDirectory = isDirectory, Size = size, Chain = chain, Parent = directory, EntryCluster = c, EntrySlot = slot };
                directory.Children.Add(node);
                if (isDirectory) pending.Enqueue((node, childPath));
            }
        }
        return null;
    }

    // The chain from first on, each cluster claimed; null when it runs outside the disk, into a free or bad
    // cluster, or into a cluster something else already uses.
    private uint[]? Follow(uint first)
    {
        var chain = new List<uint>();
        for (uint c = first; ;)
        {
            if (c < 2 || c >= _layout.ClusterCount || _used[c]) return null;
            _used[c] = true;
            chain.Add(c);
            uint next = Entry(c);
            if (next >= _endOfChain) return [.. chain];
            if (next == 0 || next == _bad) return null;
            c = next;
        }
    }

    private string? Leftovers()
    {
        for (uint c = 2; c < _layout.ClusterCount; c++)
        {
            uint value = Entry(c);
            if (value != 0 && value != _bad && !_used[c]) return $"cluster {c} is allocated but unused";
        }
        return null;
    }

    private uint Entry(uint cluster)
    {
        switch (_layout.FatType)
        {
            case 32: return BinaryPrimitives.ReadUInt32LittleEndian(_fat.AsSpan((int)cluster * 4)) & 0x0FFFFFFF;
            case 16: return BinaryPrimitives.ReadUInt16LittleEndian(_fat.AsSpan((int)cluster * 2));
            default:
                int offset = (int)(cluster * 3 / 2);
                int pair = _fat[offset] | (_fat[offset + 1] << 8);
                return (uint)((cluster & 1) != 0 ? pair >> 4 : pair & 0xFFF);
        }
    }

    private long ClusterOffset(uint cluster) => (_layout.OffsetToRootDirectory + (long)cluster * VvfatLayout.SectorsPerCluster) * VvfatLayout.SectorSize;

    // qemu's parse_short_name: printable ASCII only, lower-cased, "BASE.EXT"; 0x05 stands for a leading 0xE5.
    private static string? ShortName(ReadOnlySpan<byte> shortName)
    {
        var text = new StringBuilder();
        var stem = shortName[..8].TrimEnd((byte)' ');
        var extension = shortName[8..].TrimEnd((byte)' ');
        foreach (byte b in stem) if (b <= ' ' || b > 0x7F) return null; else text.Append(char.ToLowerInvariant((char)b));
        if (extension.Length > 0) text.Append('.');
        foreach (byte b in extension) if (b <= ' ' || b > 0x7F) return null; else text.Append(char.ToLowerInvariant((char)b));
        return text.Length == 0 ? null : text.ToString();
    }

    /// <summary>VFAT long-name entries collected before a short entry; a broken run is dropped, not fatal.</summary>
    private sealed class LongName
    {
        private char[] _chars = [];
        private int _next = -1;
        private byte _checksum;

        public void Reset() => _next = -1;

        public void Add(ReadOnlySpan<byte> entry)
        {
            int sequence = entry[0] & 0x1F;
            if ((entry[0] & 0x40) != 0)
            {
                _chars = new char[sequence * 13];
                _checksum = entry[13];
                _next = sequence;
            }
            if (sequence == 0 || sequence != _next || entry[13] != _checksum)
            {
                _next = -1;
                return;
            }
            int at = (sequence - 1) * 13;
            for (int i = 0; i < 13; i++)
            {
                int offset = i < 5 ? 1 + 2 * i : i < 11 ? 14 + 2 * (i - 5) : 28 + 2 * (i - 11);
                _chars[at + i] = (char)BinaryPrimitives.ReadUInt16LittleEndian(entry[offset..]);
            }
            _next--;
        }

        /// <summary>The long name when a whole run ends here and its checksum matches the short entry.</summary>
        public string? For(ReadOnlySpan<byte> shortName)
        {
            if (_next != 0 || FatNames.Checksum(shortName) != _checksum) return null;
            int end = Array.IndexOf(_chars, '\0');
            return new string(_chars, 0, end < 0 ? _chars.Length : end);
        }
    }
}
