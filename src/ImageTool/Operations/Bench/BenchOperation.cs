using System.Diagnostics;

namespace ImageTool.Operations;

/// <summary>
/// <c>img bench</c>: a fixed number of reads or writes at offsets advancing by the step (wrapping at the
/// image size, as qemu 7.2 does), with <c>Depth</c> requests in flight on as many threads.
/// </summary>
internal static class BenchOperation
{
    /// <summary>The line qemu-img bench prints before it starts.</summary>
    /// <param name="o">The parameters.</param>
    /// <returns>The header text.</returns>
    public static string Header(BenchOptions o) =>
        $"Sending {o.Count} {(o.Write ? "write" : "read")} requests, {o.BufferSize} bytes each, {o.Depth} in parallel " +
        $"(starting at offset {o.Offset}, step size {StepOf(o)})";

    private static long StepOf(BenchOptions o) => o.Step == 0 ? o.BufferSize : o.Step;

    /// <summary>Runs the requests and returns the elapsed time.</summary>
    /// <exception cref="IOException">"Failed request: Input/output error" when a request fails (e.g. past the end).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired; requests already issued complete first.</exception>
    public static TimeSpan Run(IBlockDevice device, BenchOptions o, CancellationToken cancellationToken = default)
    {
        long size = device.Length;
        long step = StepOf(o);
        long next = -1;
        long completed = 0;
        Exception? failure = null;
        var watch = Stopwatch.StartNew();
        var threads = new Thread[Math.Max(1, Math.Min(o.Depth, o.Count))];
        for (int t = 0; t < threads.Length; t++)
        {
            threads[t] = new Thread(() =>
            {
                var buffer = new byte[o.BufferSize];
                if (o.Write && o.Pattern != 0) Array.Fill(buffer, o.Pattern);
                long k;
                while (!cancellationToken.IsCancellationRequested && (k = Interlocked.Increment(ref next)) < o.Count && Volatile.Read(ref failure) == null)
                {
                    // The first request uses the offset as given; later ones wrap modulo the size.
                    long offset = k == 0 || size == 0 ? o.Offset : (o.Offset % size + k % size * (step % size)) % size;
                    try
                    {
                        if (o.Write) device.Write(offset, buffer);
                        else device.Read(offset, buffer);
                        long done = Interlocked.Increment(ref completed);
                        if (o.Write && o.FlushInterval > 0 && (o.Count - done) % o.FlushInterval == 0) device.Flush();
                        if (o.Progress != null && done % Math.Max(1, o.Count / 100) == 0) o.Progress.Report(100.0 * done / o.Count);
                    }
                    catch (Exception e) when (e is IOException or ArgumentException or ImageFormatException)
                    {
                        Interlocked.CompareExchange(ref failure, e, null);
                    }
                }
            });
            threads[t].Start();
        }
        foreach (var thread in threads) thread.Join();
        watch.Stop();
        cancellationToken.ThrowIfCancellationRequested();
        if (failure != null) throw new IOException("Failed request: Input/output error", failure);
        o.Progress?.Report(100);
        return watch.Elapsed;
    }
}
