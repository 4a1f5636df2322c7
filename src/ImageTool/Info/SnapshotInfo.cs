namespace ImageTool.Info;

/// <summary>One internal snapshot as qemu reports it (QAPI SnapshotInfo).</summary>
/// <param name="Id">The snapshot's id (qemu numbers them 1, 2, ...).</param>
/// <param name="Name">Its name.</param>
/// <param name="VmStateSize">Bytes of saved VM state (0 for disk-only snapshots).</param>
/// <param name="DateSec">Creation time, seconds since the epoch.</param>
/// <param name="DateNsec">Nanoseconds part of the creation time.</param>
/// <param name="VmClockNsec">The guest clock at the snapshot, in nanoseconds.</param>
/// <param name="Icount">The instruction count for record/replay, when the image stores one.</param>
public sealed record SnapshotInfo(
    string Id, string Name, long VmStateSize, long DateSec, long DateNsec, long VmClockNsec, long? Icount)
{
    /// <summary>The snapshot as qemu's JSON reports it (vm-clock split into seconds and nanoseconds).</summary>
    /// <returns>The object.</returns>
    internal InfoObject ToInfoNode()
    {
        var o = new InfoObject()
            .Add("id", Id).Add("name", Name).Add("vm-state-size", VmStateSize)
            .Add("date-sec", DateSec).Add("date-nsec", DateNsec)
            .Add("vm-clock-sec", VmClockNsec / 1_000_000_000).Add("vm-clock-nsec", VmClockNsec % 1_000_000_000);
        if (Icount is long icount) o.Add("icount", icount);
        return o;
    }
}
