namespace ImageTool.Operations;

/// <summary>
/// <c>img compare</c>: compares the guest-visible content of two images (unallocated reads as zeros).
/// Ranges both sides report as zero are skipped; data is read ahead on worker threads in 2 MiB chunks and
/// checked in order, so the first mismatch is the one qemu-img reports.
/// </summary>
public static class CompareOperation
{
    /// <summary>Exit code: the images are identical.</summary>
    public const int Identical = 0;
    /// <summary>Exit code: the images differ.</summary>
    public const int Different = 1;
    /// <summary>Exit code: an image could not be opened.</summary>
    public const int OpenFailed = 2;
    /// <summary>Exit code: block status failed.</summary>
    public const int StatusFailed = 3;
    /// <summary>Exit code: a read failed.</summary>
    public const int ReadFailed = 4;

    private const int ChunkSize = 2 << 20;
    private const int Sector = 512;
    private static readonly int ReadAhead = Math.Max(4, 2 * Environment.ProcessorCount);

    /// <summary>Compares; verdict lines go to <paramref name="print"/> (stdout), errors are thrown as <see cref="CompareException"/>.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired (nothing was printed for the ranges not compared).</exception>
    public static int Run(IImage first, IImage second, string firstName, string secondName, bool strict,
        Action<string> print, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        long size1 = first.Length, size2 = second.Length;
        long common = Math.Min(size1, size2);
        long total = Math.Max(size1, size2);
        double done = 0;
        void Advance(long bytes)
        {
            done += (float)bytes / total * 100;
            progress?.Report(Math.Min(100, done));
        }

        progress?.Report(0);
        if (strict && size1 != size2)
        {
            print("Strict mode: Image size mismatch!");
            return Different;
        }

        var pending = new Queue<(Task<long?> Mismatch, long Length)>();
        long offset = 0;
        try
        {
            while (offset < common)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var s1 = Status(first, offset, size1 - offset, firstName);
                var s2 = Status(second, offset, size2 - offset, secondName);
                long chunk = Math.Min(s1.Length, s2.Length);
                if (strict && s1.Flags != s2.Flags)
                {
                    if (Drain(pending, print, Advance)) return Different;
                    print($"Strict mode: Offset {offset} block status mismatch!");
                    return Different;
                }
                Task<long?> task;
                if (s1.Zero && s2.Zero)
                {
                    task = Task.FromResult<long?>(null);
                }
                else
                {
                    chunk = Math.Min(chunk, ChunkSize);
                    long at = offset;
                    int length = (int)chunk;
                    Func<long?> work = s1.Allocated == s2.Allocated
                        ? (s1.Allocated ? () => CompareData(first, second, firstName, secondName, at, length) : () => null)
                        : () => s1.Allocated ? FindNonZero(first, firstName, at, length) : FindNonZero(second, secondName, at, length);
                    task = Task.Run(work);
                }
                pending.Enqueue((task, chunk));
                if (pending.Count >= ReadAhead && CommitOne(pending, print, Advance)) return Different;
                offset += chunk;
            }
            if (Drain(pending, print, Advance)) return Different;
        }
        finally
        {
            // Let running reads finish before the caller disposes the images.
            foreach (var (task, _) in pending) task.ContinueWith(_ => { }).Wait();
        }

        if (size1 != size2)
        {
            print("Warning: Image size mismatch!");
            var (over, overName) = size1 > size2 ? (first, firstName) : (second, secondName);
            while (offset < total)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var s = Status(over, offset, total - offset, overName);
                long chunk = s.Length;
                if (s.Allocated && !s.Zero)
                {
                    chunk = Math.Min(chunk, ChunkSize);
                    if (FindNonZero(over, overName, offset, (int)chunk) is { } at)
                    {
                        print($"Content mismatch at offset {at}!");
                        return Different;
                    }
                }
                offset += chunk;
                Advance(chunk);
            }
        }
        print("Images are identical.");
        return Identical;
    }

    private static bool Drain(Queue<(Task<long?> Mismatch, long Length)> pending, Action<string> print, Action<long> advance)
    {
        while (pending.Count > 0)
            if (CommitOne(pending, print, advance)) return true;
        return false;
    }

    private static bool CommitOne(Queue<(Task<long?> Mismatch, long Length)> pending, Action<string> print, Action<long> advance)
    {
        var (task, length) = pending.Dequeue();
        if (task.GetAwaiter().GetResult() is { } at)
        {
            print($"Content mismatch at offset {at}!");
            return true;
        }
        advance(length);
        return false;
    }

    /// <summary>Status through the chain as qemu's bdrv_block_status_above sees it for compare.</summary>
    /// <remarks><paramref name="Eof"/>: the run reaches the end of the image (qemu's BDRV_BLOCK_EOF, part of strict mode's comparison).</remarks>
    private readonly record struct ChainStatus(long Length, bool Allocated, bool Zero, bool Data, bool OffsetValid, bool Eof = false)
    {
        public (bool, bool, bool, bool, bool) Flags => (Allocated, Zero, Data, OffsetValid, Eof);
    }

    private static ChainStatus Status(IImage image, long offset, long length, string name)
    {
        var status = ChainStatusAt(image, offset, length, name);
        return status with { Eof = offset + status.Length == image.Length };
    }

    private static ChainStatus ChainStatusAt(IImage image, long offset, long length, string name)
    {
        try
        {
            for (IImage current = image; ;)
            {
                var status = current.GetBlockStatus(offset, length);
                length = status.Length;
                if (status.IsAllocated)
                    return new ChainStatus(length, true, status.IsZero, status.IsData, status.HostOffset != null);
                // Unallocated at every layer: the bottom layer's answer, zeros with the host offset of an allocated cluster
                // whose subclusters are unallocated (qemu's UNALLOCATED_ALLOC) still valid.
                if (current.Backing is not { } backing) return new ChainStatus(length, false, current.UnallocatedReadsAsZero, false, status.HostOffset != null);
                // Past the end of a shorter backing image reads zeros "allocated" at that layer.
                if (offset >= backing.Length) return new ChainStatus(length, true, true, false, false);
                length = Math.Min(length, backing.Length - offset);
                current = backing;
            }
        }
        catch (Exception e) when (e is ImageFormatException or IOException)
        {
            throw new CompareException(StatusFailed, $"Sector allocation test failed for {name}", e);
        }
    }

    /// <summary>qemu's compare_buffers: the mismatch is reported at the first differing 512-byte sector.</summary>
    private static long? CompareData(IImage first, IImage second, string firstName, string secondName, long offset, int length)
    {
        byte[] a = Rent(length);
        byte[] b = Rent(length);
        try
        {
            ReadChunk(first, firstName, offset, a.AsSpan(0, length));
            ReadChunk(second, secondName, offset, b.AsSpan(0, length));
            int same = a.AsSpan(0, length).CommonPrefixLength(b.AsSpan(0, length));
            return same == length ? null : offset + same - same % Sector;
        }
        finally
        {
            Return(a);
            Return(b);
        }
    }

    /// <summary>qemu's check_empty_sectors: one side reads zeros here, the other must too.</summary>
    private static long? FindNonZero(IImage image, string name, long offset, int length)
    {
        byte[] buffer = Rent(length);
        try
        {
            ReadChunk(image, name, offset, buffer.AsSpan(0, length));
            int index = buffer.AsSpan(0, length).IndexOfAnyExcept((byte)0);
            return index < 0 ? null : offset + index - index % Sector;
        }
        finally
        {
            Return(buffer);
        }
    }

    // Pinned chunk buffers kept for the whole run: fresh large arrays cost page faults on every read.
    private static readonly System.Collections.Concurrent.ConcurrentBag<byte[]> Buffers = [];

    private static byte[] Rent(int length) =>
        Buffers.TryTake(out var buffer) ? buffer : GC.AllocateUninitializedArray<byte>(Math.Max(length, ChunkSize), pinned: true);

    private static void Return(byte[] buffer) => Buffers.Add(buffer);

    private static void ReadChunk(IImage image, string name, long offset, Span<byte> buffer)
    {
        try
        {
            image.Read(offset, buffer);
        }
        catch (Exception e) when (e is ImageFormatException or IOException)
        {
            throw new CompareException(ReadFailed, $"Error while reading offset {offset} of {name}: {e.Message}", e);
        }
    }
}
