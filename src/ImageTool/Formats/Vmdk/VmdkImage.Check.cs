using ImageTool.Check;

namespace ImageTool.Formats.Vmdk;

// check: qemu's walk (every grain; a grain at or past the end of its file fails the check with EINVAL), then
// what qemu does not look at: grain tables past the end of the file and the redundant copies' agreement.
internal sealed partial class VmdkImage : ICheckable
{
    public CheckReport Check(CheckRepair repair, Action<string> log)
    {
        if (repair != CheckRepair.None) throw new UnsupportedFeatureException(Operations.CheckOperation.NotSupportedMessage);
        foreach (var extent in _extents)
        {
            long fileLength = extent.File.Length;
            if (extent is VmdkSparseExtent sparse) WalkGrains(sparse, fileLength, log);
            else if (extent.Length > 0 && extent.Map(0, 1).HostOffset >= fileLength) FailPastEof(extent.Start / 512, log);
        }
        int corruptions = 0;
        foreach (var extent in _extents)
            if (extent is VmdkSparseExtent sparse) corruptions += CheckTables(sparse, log);
        return new CheckReport { Corruptions = corruptions, StatisticsUnavailable = true };
    }

    private static void WalkGrains(VmdkSparseExtent extent, long fileLength, Action<string> log)
    {
        long g = extent.GrainSize;
        for (long offset = 0; offset < extent.Length;)
        {
            VmdkRun run;
            try
            {
                run = extent.Map(offset, extent.Length - offset);
            }
            catch (Exception e) when (e is IOException or ImageCorruptException)
            {
                // A table we cannot read: reported by CheckTables; skip that table's grains.
                long perTable = (long)extent.Tables.EntriesPerTable * g;
                offset = (offset / perTable + 1) * perTable;
                continue;
            }
            if (run.Kind is VmdkRunKind.Data or VmdkRunKind.Compressed && run.HostOffset >= fileLength)
                FailPastEof((extent.Start + offset) / 512, log);
            if (run.Kind == VmdkRunKind.Data && run.HostOffset + run.Length > fileLength)
            {
                // A contiguous run: find its first grain at or past the end of the file.
                long inside = (fileLength - run.HostOffset + g - 1) / g * g;
                if (inside < run.Length) FailPastEof((extent.Start + offset + inside) / 512, log);
            }
            offset += run.Length;
        }
    }

    private static void FailPastEof(long sector, Action<string> log)
    {
        log($"ERROR: cluster offset for sector {sector} points after EOF");
        throw new ImageCorruptException("Invalid argument");
    }

    /// <summary>Grain tables must lie inside the file and match their redundant copies entry by entry.</summary>
    private static int CheckTables(VmdkSparseExtent extent, Action<string> log)
    {
        int corruptions = 0;
        var tables = extent.Tables;
        var gd = tables.Directory;
        var rgd = tables.RedundantDirectory;
        long fileLength = extent.File.Length;
        long tableBytes = tables.EntriesPerTable * 4L;
        string name = extent.File.Path;
        for (int i = 0; i < gd.Length; i++)
        {
            if (gd[i] == 0 && (rgd.IsEmpty || rgd[i] == 0)) continue;
            if (gd[i] * 512L + tableBytes > fileLength)
            {
                log($"ERROR: grain table {i} of '{name}' at sector {gd[i]} lies past the end of the file");
                corruptions++;
                continue;
            }
            if (rgd.IsEmpty) continue;
            if (rgd[i] == 0 || rgd[i] * 512L + tableBytes > fileLength)
            {
                log($"ERROR: redundant grain table {i} of '{name}' at sector {rgd[i]} is missing or past the end of the file");
                corruptions++;
                continue;
            }
            var primary = tables.ReadTable(gd[i], i);
            var copy = tables.ReadTable(rgd[i], i);
            int differ = primary.AsSpan().CommonPrefixLength(copy);
            if (differ < primary.Length)
            {
                log($"ERROR: grain table {i} of '{name}' differs from its redundant copy at entry {differ}");
                corruptions++;
            }
        }
        return corruptions;
    }
}
