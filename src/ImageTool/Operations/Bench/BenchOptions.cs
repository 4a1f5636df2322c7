namespace ImageTool.Operations;

/// <summary>qemu-img bench's parameters (defaults as in qemu 7.2).</summary>
internal sealed record BenchOptions
{
    /// <summary>Number of requests (-c).</summary>
    public int Count { get; init; } = 75000;
    /// <summary>Requests in flight at once (-d); one thread each.</summary>
    public int Depth { get; init; } = 64;
    /// <summary>Offset of the first request (-o).</summary>
    public long Offset { get; init; }
    /// <summary>Bytes per request (-s).</summary>
    public int BufferSize { get; init; } = 4096;
    /// <summary>Distance between request offsets; 0 means the buffer size.</summary>
    public long Step { get; init; }
    /// <summary>Write instead of read (-w).</summary>
    public bool Write { get; init; }
    /// <summary>Byte written by write requests (--pattern).</summary>
    public byte Pattern { get; init; }
    /// <summary>Flush after every this many completed writes; 0 = never.</summary>
    public int FlushInterval { get; init; }

    /// <summary>
    /// Receives the percentage of requests completed (about every hundredth request, and 100 at the end); reported
    /// from the worker threads, so it must be thread-safe.
    /// </summary>
    public IProgress<double>? Progress { get; init; }
}
