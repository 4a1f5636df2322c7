namespace ImageTool.Codecs;

/// <summary>
/// A codec holding native memory, kept one per thread: freed by <see cref="Dispose"/>, or by the finalizer once the
/// thread that held it is gone.
/// </summary>
internal abstract class NativeCodec : IDisposable
{
    private bool _freed;

    /// <summary>Frees the native state; called once.</summary>
    protected abstract void FreeNative();

    protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_freed, this);

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    ~NativeCodec() => Free();

    private void Free()
    {
        if (_freed) return;
        _freed = true;
        FreeNative();
    }
}
