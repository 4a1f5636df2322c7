using ImageTool.Check;
using ImageTool.Info;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// The capabilities operations ask a qcow2 image for, handed to the part that owns each (snapshots:
/// <see cref="Qcow2Snapshots"/>; check: <see cref="Qcow2Checker"/>; persistent bitmaps: <see cref="Qcow2DirtyBitmaps"/>,
/// under the image's lock).
/// </summary>
internal sealed partial class Qcow2Image : IInternalSnapshots, IPersistentBitmaps, ICheckable
{
    /// <summary>The snapshot table (read at open).</summary>
    internal IReadOnlyList<Qcow2Snapshot> Snapshots => _snapshots.List;

    /// <summary>qemu-img snapshot -c: a new snapshot of the current state (duplicate names allowed, new ID = max + 1).</summary>
    public Qcow2Snapshot CreateSnapshot(string name, DateTimeOffset now) => _snapshots.Create(name, now);

    /// <summary>qemu-img snapshot -a: matches an ID first, then a name.</summary>
    public void ApplySnapshot(string idOrName, Action<string>? report = null) => _snapshots.Apply(idOrName, report);

    /// <summary>qemu-img snapshot -d: the first snapshot with that name.</summary>
    public void DeleteSnapshot(string name) => _snapshots.Delete(name);

    /// <summary>Read-only view of a snapshot (convert -l / -s).</summary>
    internal void LoadSnapshotForReading(string? id, string? name) => _snapshots.LoadForReading(id, name);

    public CheckReport Check(CheckRepair repair, Action<string> log) => _checker.Run(repair, log);

    IReadOnlyList<SnapshotInfo> IInternalSnapshots.Snapshots => [.. Snapshots.Select(s => s.ToInfo())];

    void IInternalSnapshots.CreateSnapshot(string name, DateTimeOffset now, Action<string>? report) => CreateSnapshot(name, now);

    void IInternalSnapshots.LoadSnapshotForReading(string? id, string? name) => LoadSnapshotForReading(id, name);

    IReadOnlyList<PersistentBitmap> IPersistentBitmaps.StoredBitmaps =>
        [.. _bitmaps.Stored.Select(b => new PersistentBitmap(b.Name, 1L << b.GranularityBits, (b.Flags & Qcow2Bitmap.FlagAuto) != 0, b.InUse))];

    bool IPersistentBitmaps.CanStoreBitmaps => _bitmaps.CanStore;

    void IPersistentBitmaps.AddBitmap(string name, long? granularity, bool disabled)
    {
        lock (_lock) _bitmaps.Add(name, granularity, disabled);
    }

    void IPersistentBitmaps.RemoveBitmap(string name)
    {
        lock (_lock) _bitmaps.Remove(name);
    }

    void IPersistentBitmaps.ClearBitmap(string name)
    {
        lock (_lock) _bitmaps.Clear(name);
    }

    void IPersistentBitmaps.EnableBitmap(string name, bool enabled)
    {
        lock (_lock) _bitmaps.Enable(name, enabled);
    }

    BitmapContents IPersistentBitmaps.ReadBitmap(string name)
    {
        lock (_lock) return _bitmaps.Read(name);
    }

    // Bits come only from another qcow2 image: for qemu a bitmap of another driver is not there to merge.
    void IPersistentBitmaps.MergeBitmap(string source, string target, IPersistentBitmaps? from)
    {
        var other = from == null ? null : (from as Qcow2Image)?._bitmaps ?? throw new ImageFormatException($"Dirty bitmap '{source}' not found");
        lock (_lock) _bitmaps.Merge(source, target, other);
    }
}
