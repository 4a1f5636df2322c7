namespace ImageTool.Formats.Qcow2;

/// <summary>
/// qemu's corruption events on lookups: a writable image is marked corrupt; a read-only one gets one
/// "Image is corrupt" warning and the request fails (qemu-img then reports EIO in its own words).
/// </summary>
internal sealed partial class Qcow2Image
{
    private bool _corruptionReported;

    /// <summary><see cref="Map"/>, signalling broken metadata it meets. Caller holds the lock.</summary>
    private Run MapOrSignal(long offset, long maxLength)
    {
        try
        {
            return Map(offset, maxLength);
        }
        catch (ImageCorruptException e)
        {
            if (!IsReadOnly) MarkCorrupt(e.Message);
            else if (!_corruptionReported)
                _warning?.Invoke($"qcow2: Image is corrupt: {e.Message}; further non-fatal corruption events will be suppressed");
            _corruptionReported = true;
            throw;
        }
    }
}
