namespace ImageTool.Info;

/// <summary>One internal snapshot as qemu reports it (QAPI SnapshotInfo).</summary>
public sealed record SnapshotInfo(
    string Id, string Name, long VmStateSize, long DateSec, long DateNsec, long VmClockNsec, long? Icount)
{
    public InfoObject ToInfoNode()
    {
        var o = new InfoObject()
            .Add("id", Id).Add("name", Name).Add("vm-state-size", VmStateSize)
            .Add("date-sec", DateSec).Add("date-nsec", DateNsec)
            .Add("vm-clock-sec", VmClockNsec / 1_000_000_000).Add("vm-clock-nsec", VmClockNsec % 1_000_000_000);
        if (Icount is long icount) o.Add("icount", icount);
        return o;
    }
}
