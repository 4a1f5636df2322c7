using System.Collections.Concurrent;

namespace ImageTool.Kvm;

/// <summary>
/// The guest's text console: what the serial port and the BIOS print goes to <see cref="Output"/>; bytes
/// given to <see cref="Type"/> reach the serial port and the BIOS keyboard.
/// </summary>
public class GuestConsole : IDisposable
{
    private readonly ConcurrentQueue<byte> _input = new();
    private readonly SemaphoreSlim _inputAvailable = new(0);

    public GuestConsole(Stream output) => Output = output;

    public Stream Output { get; }

    /// <summary>Raised (on the input thread) when new input arrives.</summary>
    internal event Action? InputArrived;

    /// <summary>Raised when the user asks to quit (Ctrl-A x on a terminal).</summary>
    internal event Action? QuitRequested;

    public void Type(ReadOnlySpan<byte> keys)
    {
        foreach (byte b in keys) _input.Enqueue(b);
        _inputAvailable.Release();
        InputArrived?.Invoke();
    }

    internal bool TryPeek(out byte key) => _input.TryPeek(out key);

    internal bool TryTake(out byte key) => _input.TryDequeue(out key);

    /// <summary>Waits up to <paramref name="timeoutMs"/> for input; true when some is queued.</summary>
    internal bool WaitForInput(int timeoutMs)
    {
        if (!_input.IsEmpty) return true;
        _inputAvailable.Wait(timeoutMs);
        return !_input.IsEmpty;
    }

    protected void RequestQuit() => QuitRequested?.Invoke();

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing) _inputAvailable.Dispose();
    }
}
