using System.Text;

namespace ImageTool.Protocols.Vvfat;

/// <summary>
/// qemu's <c>fat:rw:</c>: sectors the guest writes are kept in a <see cref="SectorOverlay"/>, and after every write
/// that leaves a whole file system (<see cref="FatScanner"/>) the changes since the last such state are made in
/// the host directory: renames and moves (a file keeps its identity by its first cluster, as in qemu), deletions,
/// new directories, and new or changed file contents. File clusters then read from the host files again.
/// </summary>
internal sealed class VvfatWriteBack : IDisposable
{
    private const int SectorSize = VvfatLayout.SectorSize;
    private const int ClusterSize = VvfatLayout.ClusterSize;
    private const int SectorsPerCluster = VvfatLayout.SectorsPerCluster;

    private readonly VvfatLayout _layout;
    private readonly Action<long, Span<byte>> _readView;
    private readonly Action<ImageWarning>? _warning;
    private readonly FatNode?[] _owner;
    private readonly int[] _ownerIndex;
    private readonly bool[] _dirty;
    private FatNode _tree;
    private int _moves;

    public SectorOverlay Overlay { get; }

    /// <param name="layout">The disk as generated at open.</param>
    /// <param name="readView">Reads the disk as the guest sees it (byte offset, buffer).</param>
    /// <param name="warning">Receives what could not be done in the host directory.</param>
    public VvfatWriteBack(VvfatLayout layout, Action<long, Span<byte>> readView, Action<ImageWarning>? warning)
    {
        _layout = layout;
        _readView = readView;
        _warning = warning;
        _owner = new FatNode?[layout.ClusterCount];
        _ownerIndex = new int[layout.ClusterCount];
        _dirty = new bool[layout.ClusterCount];
        // Files are read through the layout's runs until the first scan has named their owners.
        _tree = FatScanner.Scan(layout, readView, out string? problem)
            ?? throw new ImageFormatException($"vvfat: cannot write back to {layout.RootPath}: {problem}");
        foreach (var node in _tree.BreadthFirst())
        {
            node.HostParent = node.Parent;
            node.HostName = node.Parent == null ? Encoding.UTF8.GetBytes(layout.RootPath) : layout.HostName(node.EntryCluster, node.EntrySlot) ?? Encoding.UTF8.GetBytes(node.Name);
        }
        Overlay = new SectorOverlay(layout.TotalSectors);
        Own(_tree);
    }

    /// <summary>Reads a cluster that belongs to a host file as the last write-back left it; false if none does.</summary>
    public bool ReadFileCluster(uint cluster, int inCluster, Span<byte> target)
    {
        if (cluster >= _owner.Length || _owner[cluster] is not { } file) return false;
        long offset = (long)_ownerIndex[cluster] * ClusterSize + inCluster;
        int data = (int)Math.Clamp(file.Size - offset, 0, target.Length);
        HostDirectory.ReadFile(file.HostPath, offset, target[..data]);
        target[data..].Clear();
        return true;
    }

    /// <summary>Records the sectors from firstSector on that differ from what the guest saw, then writes back.</summary>
    public void Write(long firstSector, ReadOnlySpan<byte> sectors, ReadOnlySpan<byte> before)
    {
        int count = sectors.Length / SectorSize;
        for (int i = 0; i < count; i++)
        {
            // qemu refuses writes to the MBR and boot sector; rewriting them unchanged (a whole-disk copy) is harmless.
            if (firstSector + i < _layout.OffsetToFat && !Same(sectors, before, i))
                throw new IOException("Operation not permitted");
        }
        for (int i = 0; i < count;)
        {
            if (Same(sectors, before, i))
            {
                i++;
                continue;
            }
            int run = 1;
            while (i + run < count && !Same(sectors, before, i + run)) run++;
            Overlay.Write(firstSector + i, sectors.Slice(i * SectorSize, run * SectorSize));
            for (long s = firstSector + i; s < firstSector + i + run; s++)
            {
                long inData = s - _layout.OffsetToRootDirectory;
                if (inData >= 0 && inData / SectorsPerCluster < _dirty.Length) _dirty[inData / SectorsPerCluster] = true;
            }
            i += run;
        }
        TryCommit();
    }

    private static bool Same(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, int sector) =>
        a.Slice(sector * SectorSize, SectorSize).SequenceEqual(b.Slice(sector * SectorSize, SectorSize));

    private void TryCommit()
    {
        var fresh = FatScanner.Scan(_layout, _readView, out _);
        if (fresh == null) return;     // the guest is in the middle of a change: wait for a whole state
        var match = Match(fresh);
        var writes = PlanWrites(fresh, match);
        var matchedOld = new HashSet<FatNode>(match.Values, ReferenceEqualityComparer.Instance);

        // Moves and renames first go to a temporary name in the root, deepest first, so that swapped names and
        // entries moved out of a directory that is then removed never collide.
        var moved = new HashSet<FatNode>(fresh.BreadthFirst().Skip(1).Where(n => match.TryGetValue(n, out var o) && IsMoved(n, o, match)), ReferenceEqualityComparer.Instance);
        foreach (var n in moved.OrderByDescending(Depth))
        {
            var o = match[n];
            byte[] temporary = Encoding.ASCII.GetBytes($".vvfat-move-{Environment.ProcessId}-{_moves++}");
            if (Report(HostEdits.Rename(o.HostPath, HostDirectory.Join(_tree.HostPath, temporary)), "rename", o.HostPath)) continue;
            o.HostParent = _tree;
            o.HostName = temporary;
        }
        foreach (var o in _tree.BreadthFirst().Skip(1).Where(o => !matchedOld.Contains(o)).OrderByDescending(Depth))
            Report(HostEdits.Delete(o.HostPath, o.IsDirectory), "delete", o.HostPath);

        fresh.HostName = _tree.HostName;
        foreach (var n in fresh.BreadthFirst().Skip(1))
        {
            match.TryGetValue(n, out var o);
            n.HostParent = n.Parent;
            n.HostName = o != null && !moved.Contains(n) ? o.HostName : Encoding.UTF8.GetBytes(n.Name);
            if (o != null && moved.Contains(n)) Report(HostEdits.Rename(o.HostPath, n.HostPath), "rename", n.HostPath);
            else if (o == null && n.IsDirectory && HostDirectory.Stat(n.HostPath) is not { IsDirectory: true })
                Report(HostEdits.MakeDirectory(n.HostPath), "create", n.HostPath);
            if (!n.IsDirectory && writes.TryGetValue(n, out bool[]? changed)) WriteFile(n, o == null, changed);
        }
        _tree = fresh;
        Array.Clear(_owner);
        Own(fresh);
        Array.Clear(_dirty);
    }

    private Dictionary<FatNode, FatNode> Match(FatNode fresh)
    {
        var byCluster = new Dictionary<uint, FatNode>();
        foreach (var o in _tree.BreadthFirst().Skip(1))
            if (o.FirstCluster != 0) byCluster[o.FirstCluster] = o;
        var match = new Dictionary<FatNode, FatNode>(ReferenceEqualityComparer.Instance) { [fresh] = _tree };
        var taken = new HashSet<FatNode>(ReferenceEqualityComparer.Instance);
        foreach (var n in fresh.BreadthFirst().Skip(1))
        {
            FatNode? o = null;
            if (n.FirstCluster != 0)
            {
                if (byCluster.TryGetValue(n.FirstCluster, out var candidate) && candidate.IsDirectory == n.IsDirectory) o = candidate;
            }
            else if (match.TryGetValue(n.Parent!, out var oldParent))
            {
                // Empty files have no cluster: they are the same file when their name and directory are.
                o = oldParent.Children.FirstOrDefault(c => c.FirstCluster == 0 && !c.IsDirectory && c.Name == n.Name && !taken.Contains(c));
            }
            if (o != null && taken.Add(o)) match[n] = o;
        }
        return match;
    }

    private static bool IsMoved(FatNode n, FatNode o, Dictionary<FatNode, FatNode> match) =>
        n.Name != o.Name || !match.TryGetValue(n.Parent!, out var oldParent) || !ReferenceEquals(oldParent, o.Parent);

    private static int Depth(FatNode node)
    {
        int depth = 0;
        for (var p = node.Parent; p != null; p = p.Parent) depth++;
        return depth;
    }

    // Which clusters of each file must reach its host file. A cluster that now sits elsewhere than in the last
    // state is first copied whole into the overlay, so that no host change made below alters what it reads.
    private Dictionary<FatNode, bool[]> PlanWrites(FatNode fresh, Dictionary<FatNode, FatNode> match)
    {
        var writes = new Dictionary<FatNode, bool[]>(ReferenceEqualityComparer.Instance);
        foreach (var n in fresh.BreadthFirst())
        {
            if (n.IsDirectory) continue;
            match.TryGetValue(n, out var o);
            var changed = new bool[n.Chain.Length];
            bool any = o == null || o.Size != n.Size;
            for (int i = 0; i < n.Chain.Length; i++)
            {
                uint c = n.Chain[i];
                bool samePlace = o != null && i < o.Chain.Length && o.Chain[i] == c;
                if (!samePlace) Materialize(c);
                changed[i] = !samePlace || _dirty[c] || (o!.Size != n.Size && Overlay.Any(ClusterSector(c), SectorsPerCluster));
                any |= changed[i];
            }
            if (any) writes[n] = changed;
        }
        return writes;
    }

    private void Materialize(uint cluster)
    {
        long first = ClusterSector(cluster);
        if (!Enumerable.Range(0, SectorsPerCluster).Any(s => !Overlay.Has(first + s))) return;
        var bytes = new byte[ClusterSize];
        _readView(first * SectorSize, bytes);
        for (int s = 0; s < SectorsPerCluster; s++)
            if (!Overlay.Has(first + s)) Overlay.Write(first + s, bytes.AsSpan(s * SectorSize, SectorSize));
    }

    private void WriteFile(FatNode file, bool create, bool[] changed)
    {
        var error = HostEdits.WriteFile(file.HostPath, create, (offset, index) =>
        {
            if (!changed[index]) return null;
            var bytes = new byte[ClusterSize];
            _readView(ClusterSector(file.Chain[index]) * SectorSize, bytes);
            return bytes;
        }, file.Size);
        if (Report(error, "write", file.HostPath)) return;
        // The host file now holds these bytes; sectors reaching past its end stay in the overlay.
        for (int i = 0; i < file.Chain.Length; i++)
        {
            long first = ClusterSector(file.Chain[i]);
            for (int s = 0; s < SectorsPerCluster; s++)
                if ((long)i * ClusterSize + (s + 1) * SectorSize <= file.Size) Overlay.Drop(first + s, 1);
        }
    }

    private bool Report(string? error, string what, byte[] path)
    {
        if (error == null) return false;
        _warning?.Invoke($"vvfat: cannot {what} {Encoding.UTF8.GetString(path)}: {error}");
        return true;
    }

    private void Own(FatNode tree)
    {
        foreach (var node in tree.BreadthFirst())
        {
            if (node.IsDirectory) continue;
            for (int i = 0; i < node.Chain.Length; i++)
            {
                _owner[node.Chain[i]] = node;
                _ownerIndex[node.Chain[i]] = i;
            }
        }
    }

    private long ClusterSector(uint cluster) => _layout.OffsetToRootDirectory + (long)cluster * SectorsPerCluster;

    public void Dispose() => Overlay.Dispose();
}
