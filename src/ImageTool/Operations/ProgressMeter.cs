namespace ImageTool.Operations;

/// <summary>
/// qemu's progress reporting (util/qemu-progress.c): a value is passed on when it moved by more than
/// one point, and always at 0 and 100.
/// </summary>
public sealed class ProgressMeter(Action<double> sink)
{
    private float _lastPrinted;

    public void Report(double percent)
    {
        float current = (float)percent;
        if (current > _lastPrinted + 1 || current < _lastPrinted - 1 || current == 0 || current == 100)
        {
            _lastPrinted = current;
            sink(current);
        }
    }
}
