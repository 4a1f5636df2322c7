using ImageTool.Check;

namespace ImageTool.Formats.Vhdx;

/// <summary>qemu's vhdx_co_check: BAT entries past the end of the file or over metadata, and the log replayed at open.</summary>
internal sealed partial class VhdxImage : ICheckable
{
    private bool _replayReported;

    public CheckReport Check(CheckRepair repair, Action<string> log)
    {
        int corruptions = 0;
        foreach (var error in BatErrors())
        {
            log("img: " + error);
            corruptions++;
        }
        // The replay happened at open; it is reported (once) as a repaired corruption.
        int fixedCount = _replayedOnOpen && !_replayReported ? 1 : 0;
        _replayReported = true;
        return new CheckReport { Corruptions = corruptions, CorruptionsFixed = fixedCount, StatisticsUnavailable = true };
    }
}
