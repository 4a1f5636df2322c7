using ImageTool.Info;

namespace ImageTool.Capabilities;

/// <summary>
/// An image that holds internal snapshots (<c>img snapshot</c>, <c>convert -l</c>; qemu's bdrv_snapshot_*).
/// Images without it fail those commands with qemu's messages. Messages thrown here are the format's own;
/// the operation prefixes them as qemu-img does.
/// </summary>
internal interface IInternalSnapshots
{
    /// <summary>The snapshot table, in stored order.</summary>
    IReadOnlyList<SnapshotInfo> Snapshots { get; }

    /// <summary>
    /// A new snapshot of the current state (duplicate names allowed where the format does). <paramref name="report"/>
    /// receives what qemu prints on a line of its own before such a failure.
    /// </summary>
    void CreateSnapshot(string name, DateTimeOffset now, Action<string>? report = null);

    /// <summary>
    /// Reverts the current state to the snapshot with that ID or, failing that, that name. <paramref name="report"/>
    /// receives what qemu prints on a line of its own before such a failure.
    /// </summary>
    void ApplySnapshot(string idOrName, Action<string>? report = null);

    /// <summary>
    /// qemu reopens the image around a revert (a raw image passing snapshots to its protocol node), so the
    /// warnings of its open are printed again.
    /// </summary>
    bool ApplyReopens => false;

    /// <summary>Deletes the first snapshot with that name.</summary>
    void DeleteSnapshot(string name);

    /// <summary>Switches an image opened read-only to a snapshot's contents; with both given, both must match.</summary>
    void LoadSnapshotForReading(string? id, string? name);
}
