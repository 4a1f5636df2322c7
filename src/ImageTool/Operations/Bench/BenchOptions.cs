namespace ImageTool.Operations;

/// <summary>qemu-img bench's parameters (defaults as in qemu 7.2).</summary>
public sealed record BenchOptions
{
    public int Count { get; init; } = 75000;
    public int Depth { get; init; } = 64;
    public long Offset { get; init; }
    public int BufferSize { get; init; } = 4096;
    /// <summary>Distance between request offsets; 0 means the buffer size.</summary>
    public long Step { get; init; }
    public bool Write { get; init; }
    public byte Pattern { get; init; }
    /// <summary>Flush after every this many completed writes; 0 = never.</summary>
    public int FlushInterval { get; init; }

    /// <summary>
    /// Receives the percentage of requests completed (about every hundredth request, and 100 at the end); reported
    /// from the worker threads, so it must be thread-safe.
    /// </summary>
    public IProgress<double>? Progress { get; init; }
}
