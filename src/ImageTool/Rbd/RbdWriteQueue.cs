using System.Runtime.InteropServices;

namespace ImageTool.Rbd;

/// <summary>
/// Writes to an RBD image kept in flight (rbd_aio_write2 on a copy of the data), as qemu keeps several
/// requests going: a sequential writer (convert) is not held up by one round trip per request. At most
/// <see cref="MaxInFlight"/> writes are pending; a write overlapping a pending one, and every other operation on
/// the image (read, discard, resize, flush, snapshot), first waits for all of them. A failed write surfaces
/// as an IOException at the next wait.
/// </summary>
internal sealed unsafe class RbdWriteQueue(nint image) : IDisposable
{
    public const int MaxInFlight = 16;

    private readonly Queue<(nint Completion, nint Buffer, long Offset, long End)> _pending = new();
    private readonly Lock _lock = new();

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            long end = offset + data.Length;
            foreach (var p in _pending)
            {
                if (p.Offset < end && offset < p.End)
                {
                    DrainLocked();
                    break;
                }
            }
            while (_pending.Count >= MaxInFlight) CompleteOldest();
            nint buffer = (nint)NativeMemory.Alloc((nuint)Math.Max(1, data.Length));
            data.CopyTo(new Span<byte>((void*)buffer, data.Length));
            int r = RbdNative.AioCreateCompletion(null, null, out nint completion);
            if (r < 0)
            {
                NativeMemory.Free((void*)buffer);
                throw new IOException(RbdNative.ErrorText(r));
            }
            r = RbdNative.AioWrite2(image, (ulong)offset, (nuint)data.Length, (byte*)buffer, completion, 0);
            if (r < 0)
            {
                RbdNative.AioRelease(completion);
                NativeMemory.Free((void*)buffer);
                throw new IOException(RbdNative.ErrorText(r));
            }
            _pending.Enqueue((completion, buffer, offset, end));
        }
    }

    /// <summary>Waits for every pending write; throws the first failure.</summary>
    public void Drain()
    {
        lock (_lock) DrainLocked();
    }

    private void DrainLocked()
    {
        IOException? error = null;
        while (_pending.Count > 0)
        {
            try { CompleteOldest(); }
            catch (IOException e) { error ??= e; }
        }
        if (error != null) throw error;
    }

    private void CompleteOldest()
    {
        var (completion, buffer, _, _) = _pending.Dequeue();
        RbdNative.AioWaitForComplete(completion);
        long result = RbdNative.AioGetReturnValue(completion);
        RbdNative.AioRelease(completion);
        NativeMemory.Free((void*)buffer);
        if (result < 0) throw new IOException(RbdNative.ErrorText((int)result));
    }

    /// <summary>Waits for the pending writes; a failure is thrown after all of them are done (nothing is left in flight).</summary>
    public void Dispose() => Drain();
}
