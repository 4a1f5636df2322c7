namespace ImageTool.Formats.Qcow2;

/// <summary>The steps of a qcow2 amend that count for its progress, in the order they run.</summary>
internal enum Qcow2AmendStep
{
    None,
    Upgrading,
    UpdatingEncryption,
    ChangingRefcountOrder,
    Downgrading,
}

/// <summary>
/// qemu's qcow2_amend_helper_cb: the steps of one amend report into a single (offset, total) progress; the work
/// of the steps not yet begun is projected from the work of those seen so far.
/// </summary>
internal sealed class Qcow2AmendProgress(Action<long, long>? sink, int totalSteps)
{
    private Qcow2AmendStep _lastStep;
    private int _completed;
    private long _offsetCompleted;
    private long _lastWork;

    public Qcow2AmendStep Step { get; set; }

    public void Report(long offset, long work)
    {
        if (sink == null) return;
        if (Step != _lastStep)
        {
            if (_lastStep != Qcow2AmendStep.None)
            {
                _offsetCompleted += _lastWork;
                _completed++;
            }
            _lastStep = Step;
        }
        _lastWork = work;
        long current = _offsetCompleted + work;
        long projected = current * (totalSteps - _completed - 1) / (_completed + 1);
        sink(_offsetCompleted + offset, current + projected);
    }
}
