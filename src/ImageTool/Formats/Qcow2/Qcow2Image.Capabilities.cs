using ImageTool.Info;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// The capabilities operations ask a qcow2 image for, where their members differ from the qcow2 methods behind
/// them (internal snapshots in Qcow2Image.Snapshots.cs), or where the image hands them to the part that owns them
/// (persistent bitmaps: <see cref="Qcow2DirtyBitmaps"/>, under the image's lock).
/// </summary>
internal sealed partial class Qcow2Image : IInternalSnapshots, IPersistentBitmaps
{
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
