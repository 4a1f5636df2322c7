using ImageTool.Info;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// The capabilities operations ask a qcow2 image for, where their members differ from the qcow2 methods behind
/// them (internal snapshots in Qcow2Image.Snapshots.cs, bitmap commands in Qcow2Image.BitmapCommands.cs).
/// </summary>
internal sealed partial class Qcow2Image : IInternalSnapshots, IPersistentBitmaps
{
    IReadOnlyList<SnapshotInfo> IInternalSnapshots.Snapshots => [.. Snapshots.Select(s => s.ToInfo())];

    void IInternalSnapshots.CreateSnapshot(string name, DateTimeOffset now, Action<string>? report) => CreateSnapshot(name, now);

    void IInternalSnapshots.LoadSnapshotForReading(string? id, string? name) => LoadSnapshotForReading(id, name);

    IReadOnlyList<PersistentBitmap> IPersistentBitmaps.StoredBitmaps =>
        [.. StoredBitmaps.Select(b => new PersistentBitmap(b.Name, 1L << b.GranularityBits, (b.Flags & Qcow2Bitmap.FlagAuto) != 0, b.InUse))];

    BitmapContents IPersistentBitmaps.ReadBitmap(string name) => ReadBitmap(name);

    // Bits come only from another qcow2 image: for qemu a bitmap of another driver is not there to merge.
    void IPersistentBitmaps.MergeBitmap(string source, string target, IPersistentBitmaps? from) =>
        MergeBitmap(source, target, from == null ? null : from as Qcow2Image ?? throw new ImageFormatException($"Dirty bitmap '{source}' not found"));
}
