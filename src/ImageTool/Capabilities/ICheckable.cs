using ImageTool.Check;

namespace ImageTool.Capabilities;

/// <summary>A format that can check (and repair) its own consistency. Formats without it: qemu's exit 63.</summary>
public interface ICheckable
{
    /// <summary>
    /// Checks the image; with a repair mode, fixes what it may and says so in the report's *Fixed counts.
    /// Per-problem lines (qemu's stderr lines, e.g. "Leaked cluster 22 refcount=1 reference=0") go to <paramref name="log"/>.
    /// </summary>
    CheckReport Check(CheckRepair repair, Action<string> log);
}
