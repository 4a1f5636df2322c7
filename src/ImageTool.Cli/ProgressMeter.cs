namespace ImageTool.Cli;

/// <summary>
/// qemu's progress reporting (util/qemu-progress.c): a value is passed on when it moved by more than
/// one point (<paramref name="minStep"/>: compare uses 2), and always at 0 and 100.
/// </summary>
internal sealed class ProgressMeter(Action<double> sink, float minStep = 1) : IProgress<double>
{
    private float _lastPrinted;

    public void Report(double percent)
    {
        float current = (float)percent;
        if (current > _lastPrinted + minStep || current < _lastPrinted - minStep || current == 0 || current == 100)
        {
            _lastPrinted = current;
            sink(current);
        }
    }
}
