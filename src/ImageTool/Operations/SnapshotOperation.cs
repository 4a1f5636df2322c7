using System.Text;
using ImageTool.Info;

namespace ImageTool.Operations;

/// <summary>
/// <c>img snapshot</c>: list, create, apply and delete internal snapshots (qemu-img 7.2 img_snapshot, CLI.md §8).
/// Images without <see cref="IInternalSnapshots"/> fail with qemu's messages.
/// </summary>
public static class SnapshotOperation
{
    /// <summary>Whether the image holds internal snapshots (other formats refuse every action but listing).</summary>
    public static bool Supports(IImage image) => image is IInternalSnapshots;

    /// <summary>Whether qemu reopens the image to revert it (no snapshot support of its own), repeating its open warnings.</summary>
    internal static bool ReopensOnApply(IImage image) => image is not IInternalSnapshots snapshots || snapshots.ApplyReopens;

    /// <summary>qemu's "Snapshot list:" table, or nothing when the image has no snapshots.</summary>
    internal static string List(IImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var snapshots = image.GetInfo().Snapshots;
        if (snapshots.Count == 0) return "";
        var sb = new StringBuilder("Snapshot list:\n");
        SnapshotTable.Write(sb, snapshots);
        return sb.ToString();
    }

    /// <summary>Creates a disk-only snapshot named <paramref name="name"/> taken at <paramref name="now"/>.</summary>
    /// <param name="image">The image, opened for writing.</param>
    /// <param name="name">The snapshot's name.</param>
    /// <param name="now">The creation time recorded in the snapshot table.</param>
    /// <param name="report">Receives the extra lines some stores print when a snapshot fails (rbd's "failed to create snap").</param>
    public static void Create(IImage image, string name, DateTimeOffset now, Action<string>? report = null)
    {
        if (image is not IInternalSnapshots snapshots)
            throw new ImageFormatException($"Could not create snapshot '{name}': -95 (Operation not supported)");
        try
        {
            snapshots.CreateSnapshot(name, now, report);
        }
        catch (ImageFormatException e)
        {
            throw new ImageFormatException($"Could not create snapshot '{name}': {e.Message}", e);
        }
    }

    /// <summary>
    /// Reverts the image to a snapshot given by ID or, failing that, by name. <paramref name="report"/> receives the
    /// error qemu prints on a line of its own before the failure (a broken snapshot L1 table).
    /// </summary>
    public static void Apply(IImage image, string idOrName, Action<string>? report = null)
    {
        if (image is not IInternalSnapshots snapshots)
            throw new ImageFormatException($"Could not apply snapshot '{idOrName}': Block driver does not support snapshots");
        try
        {
            snapshots.ApplySnapshot(idOrName, report);
        }
        catch (ImageFormatException e)
        {
            throw new ImageFormatException($"Could not apply snapshot '{idOrName}': {e.Message}", e);
        }
    }

    /// <summary>Deletes the first snapshot with that name (qemu-img 7.2 does not match IDs here).</summary>
    public static void Delete(IImage image, string name)
    {
        if (image is not IInternalSnapshots snapshots)
            throw new ImageFormatException($"Could not delete snapshot '{name}': snapshot not found");
        try
        {
            snapshots.DeleteSnapshot(name);
        }
        catch (ImageFormatException e)
        {
            throw new ImageFormatException($"Could not delete snapshot '{name}': {e.Message}", e);
        }
    }

    /// <summary>convert -l: "ID_OR_NAME" (ID first, then name) or "snapshot.id=ID,snapshot.name=NAME".</summary>
    internal static void LoadForReading(IImage image, string snapshotParam)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(snapshotParam);
        if (image is not IInternalSnapshots snapshots)
            throw new ImageFormatException($"Failed to load snapshot: Block format '{image.Format.Name}' used by device '' does not support temporarily loading internal snapshots");
        if (!snapshotParam.StartsWith("snapshot.", StringComparison.Ordinal))
        {
            bool byId = snapshots.Snapshots.Any(s => s.Id == snapshotParam);
            LoadForReading(image, byId ? snapshotParam : null, byId ? null : snapshotParam);
            return;
        }
        var o = new Options.ImageOptions().Parse(snapshotParam);
        LoadForReading(image, o.GetString("snapshot.id"), o.GetString("snapshot.name"));
    }

    /// <summary>
    /// Switches a read-only image to a snapshot's contents (convert -l). <paramref name="id"/> and
    /// <paramref name="name"/> as qemu's snapshot.id / snapshot.name; both given must both match.
    /// </summary>
    public static void LoadForReading(IImage image, string? id, string? name)
    {
        if (image is not IInternalSnapshots snapshots) throw new ImageFormatException("Failed to load snapshot: Operation not supported");
        try
        {
            snapshots.LoadSnapshotForReading(id, name);
        }
        catch (ImageFormatException e)
        {
            throw new ImageFormatException($"Failed to load snapshot: {e.Message}", e);
        }
    }
}
