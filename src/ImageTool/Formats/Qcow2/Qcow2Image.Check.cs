using ImageTool.Check;

namespace ImageTool.Formats.Qcow2;

internal sealed partial class Qcow2Image : ICheckable
{
    public CheckReport Check(CheckRepair repair, Action<string> log) => throw new NotImplementedException();
}
