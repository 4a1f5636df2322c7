using System.Globalization;
using System.Text;

namespace ImageTool.Info;

/// <summary>qemu's snapshot table (bdrv_snapshot_dump), shared by <c>info</c> and <c>snapshot -l</c>.</summary>
internal static class SnapshotTable
{
    public static void Write(StringBuilder sb, IReadOnlyList<SnapshotInfo> snapshots)
    {
        sb.Append(CultureInfo.InvariantCulture, $"{"ID",-10}{"TAG",-17}{"VM SIZE",8}{"DATE",20}{"VM CLOCK",13}{"ICOUNT",11}\n");
        foreach (var s in snapshots)
        {
            string date = DateTimeOffset.FromUnixTimeSeconds(s.DateSec).ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
            long secs = s.VmClockNsec / 1_000_000_000;
            string clock = string.Create(CultureInfo.InvariantCulture,
                $"{secs / 3600:00}:{secs / 60 % 60:00}:{secs % 60:00}.{s.VmClockNsec / 1_000_000 % 1000:000}");
            string icount = s.Icount?.ToString(CultureInfo.InvariantCulture) ?? "";
            sb.Append(CultureInfo.InvariantCulture,
                $"{s.Id,-9} {s.Name,-16} {HumanSize.Format(s.VmStateSize),8}{date,20}{clock,13}{icount,11}\n");
        }
    }
}
