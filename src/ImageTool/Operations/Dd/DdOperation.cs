using System.Buffers;

namespace ImageTool.Operations;

/// <summary>
/// <c>img dd</c> as qemu-img does it: the output is created fresh with size min(input, count×bs) − skip×bs
/// (count counts from the start of the input, skip is taken from that) and every byte is written.
/// </summary>
public static class DdOperation
{
    private const int BufferSize = 1 << 20;

    /// <param name="o">What to copy where.</param>
    /// <param name="warn">Receives "F: cannot skip to specified offset" when skip lies past the input.</param>
    /// <param name="cancellationToken">Stops the copy: the output then holds what was copied so far, flushed.</param>
    /// <exception cref="OperationCanceledException">The token fired; the message says how much was copied.</exception>
    public static void Run(DdOptions o, Action<string> warn, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var input = DiskImage.Open(o.Input, o.SourceOptions with { ReadOnly = true });
        var format = DiskImage.FindFormat(o.OutputFormat) ?? throw new ImageFormatException("Unknown file format");
        long size = input.Length;
        if (o.Count is { } count && count <= long.MaxValue / o.BlockSize && count * o.BlockSize < size) size = count * o.BlockSize;
        bool skipTooFar = o.Skip is { } skip && (skip > long.MaxValue / o.BlockSize || size < skip * o.BlockSize);
        long start = o.Skip is { } s && !skipTooFar ? s * o.BlockSize : 0;
        long outputSize = skipTooFar ? 0 : size - start;
        try
        {
            DiskImage.Create(new CreateRequest(o.Output, format.Name) { Size = outputSize });
        }
        catch (ImageCreateException e)
        {
            throw new ImageFormatException($"{o.Output}: error while creating output image: {e.Message}", e);
        }
        using var output = DiskImage.Open(o.Output, new OpenOptions { ReadOnly = false, Format = format.Name, Cache = CacheMode.Unsafe });
        if (skipTooFar)
        {
            warn($"{o.Input}: cannot skip to specified offset");
            return;
        }
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            o.Progress?.Report(0);
            for (long at = start; at < size;)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    output.Flush();
                    throw new OperationCanceledException(
                        $"dd cancelled: '{o.Output}' holds the first {at - start} of {size - start} bytes; it was flushed and is consistent but incomplete",
                        cancellationToken);
                }
                int n = (int)Math.Min(BufferSize, size - at);
                input.Read(at, buffer.AsSpan(0, n));
                output.Write(at - start, buffer.AsSpan(0, n));
                at += n;
                o.Progress?.Report(100.0 * (at - start) / (size - start));
            }
            output.Flush();
            o.Progress?.Report(100);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
