using System.Buffers;
using ImageTool.Options;

namespace ImageTool.Operations;

/// <summary>
/// <c>img convert</c>: copies one or more sources (concatenated) into a new or existing target. Ranges that
/// block status reports as unallocated or zero are never read; zero runs of at least -S stay holes.
/// </summary>
public static partial class ConvertOperation
{
    private const int ChunkSize = 2 << 20;
    // -c: what the batches in flight may hold (source clusters and their stored forms).
    private const long CompressedBufferBytes = 16 << 20;

    /// <exception cref="OperationCanceledException">
    /// <paramref name="cancellationToken"/> fired: the target holds what was copied so far, flushed, so it is
    /// consistent (qemu-img check finds nothing) but incomplete; the message says so.
    /// </exception>
    public static void Run(IReadOnlyList<string> sources, string target, ConvertOptions options, CancellationToken cancellationToken = default)
    {
        if (options.BackingFile != null && DiskImage.FindFormat(options.OutputFormat) is { } format
            && !format.CreateOptions.Any(o => o.Name == "backing_file"))
            throw new ImageFormatException($"Backing file not supported for file format '{format.Name}'");
        if (options.BackingFile != null && sources.Count > 1)
            throw new ArgumentException("Having a backing file for the target makes no sense when concatenating multiple input images");
        if (options.Snapshot != null && sources.Count > 1)
            throw new ArgumentException("No support for concatenating multiple snapshot");
        if (options.Bitmaps && sources.Count > 1)
            throw new ArgumentException("Copying bitmaps only possible with single source");
        var opened = new List<IImage>();
        try
        {
            foreach (var source in sources)
                opened.Add(DiskImage.Open(source, options.SourceOptions with { ReadOnly = true }));
            if (options.Snapshot != null) SnapshotOperation.LoadForReading(opened[0], options.Snapshot);
            Run(opened, target, options, cancellationToken);
        }
        finally
        {
            foreach (var image in opened) image.Dispose();
        }
    }

    /// <inheritdoc cref="Run(IReadOnlyList{string}, string, ConvertOptions, CancellationToken)"/>
    public static void Run(IReadOnlyList<IImage> sources, string target, ConvertOptions options, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // qemu-img copies /dev/zero as a 0-byte disk and exits 0; a copy of nothing is never what was meant.
        if (sources.FirstOrDefault(s => s.HasNoSize) is { } sizeless)
            throw new ImageFormatException($"Could not get size of {sizeless.FileName}: a character device has no size");
        long total = sources.Sum(s => s.Length);
        if (!options.SkipCreate && DiskImage.FindFormat(options.OutputFormat) is { } outputFormat) DiskImage.CheckCanCreate(outputFormat);
        if (options.Compress && DiskImage.FindFormat(options.OutputFormat) is { SupportsCompressedWrites: false })
            throw new UnsupportedFeatureException("Compression not supported for this file format");
        var bitmaps = options.Bitmaps ? ConvertBitmaps.Select(sources[0], options.SkipBrokenBitmaps, options.SourceOptions.Warning) : [];
        if (!options.SkipCreate) CreateTarget(target, total, options);

        using var output = OpenTarget(target, options);
        if (options.Bitmaps) ConvertBitmaps.CheckTarget(output);
        if (output.Length < total) throw new ImageFormatException("output file is smaller than input file");
        ICompressedClusterWriter? compressor = null;
        if (options.Compress || output is ICompressedClusterWriter { NeedsCompressedWrites: true })
            compressor = output as ICompressedClusterWriter ?? throw new UnsupportedFeatureException("Compression not supported for this file format");

        var progress = options.Progress;
        progress?.Report(0);
        // Like qemu, progress counts only the bytes that will be copied, found by a block-status pass first. qemu
        // makes that pass even without progress, so --salvage warns of each failed block status there too.
        IReadOnlyList<IImage> reading = options.Salvage
            ? [.. sources.Select(s => new SalvagingImage(s, options.Quiet ? null : options.SourceOptions.Warning))]
            : sources;
        long toCopy = progress == null && !options.Salvage ? 0 : reading.Sum(s => CountCopied(s, options, cancellationToken));
        var copier = new Copier(output, options, toCopy, compressor, progress, cancellationToken);
        long at = 0;
        try
        {
            // -c writes whole target clusters, which may span the boundaries between sources.
            if (compressor != null) copier.CopyCompressed(reading);
            else
            {
                foreach (var source in reading)
                {
                    copier.Copy(source, at);
                    at += source.Length;
                }
            }
        }
        catch (ImageIOException e)
        {
            throw new ImageFormatException($"error while writing at byte {e.Offset}: {e.Message}", e);
        }
        catch (OperationCanceledException e) when (e.CancellationToken == cancellationToken)
        {
            // Everything written so far went through the format, so its metadata is right once flushed.
            output.Flush();
            throw new OperationCanceledException(
                $"Convert cancelled: '{target}' holds the first {copier.Reached} of {total} bytes; it was flushed and is consistent but incomplete",
                e, cancellationToken);
        }
        ConvertBitmaps.Copy(sources[0], output, bitmaps);
        progress?.Report(100);
        output.Flush();
    }

    /// <summary>
    /// Whether a run is read and copied: data that is not known to read as zeros. As qemu-img's convert, "zero"
    /// wins over "data" (a flat extent or raw file past its end, a preallocated zero cluster), so such runs cost
    /// nothing on a sparse target however long they are.
    /// </summary>
    private static bool CopiesData(BlockStatus status) => status.IsData && !status.IsZero;

    private static string BlockStatusError(long offset) => $"error while reading block status at offset {offset}: ";

    private static long CountCopied(IImage source, ConvertOptions options, CancellationToken cancellationToken)
    {
        if (options.SparseSize == 0) return source.Length;
        long count = 0;
        for (long offset = 0; offset < source.Length;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var status = SourceErrors.Status(source, offset, source.Length - offset, BlockStatusError(offset));
            if (CopiesData(status)) count += status.Length;
            offset += status.Length;
        }
        return count;
    }

    private static void CreateTarget(string target, long size, ConvertOptions options)
    {
        var targetOptions = options.OutputOptions;
        if (options.BackingFile != null && !targetOptions.Contains("backing_file"))
        {
            targetOptions.Set("backing_file", options.BackingFile);
            if (options.BackingFormat != null) targetOptions.Set("backing_fmt", options.BackingFormat);
        }
        if (targetOptions.Contains("backing_file") && !targetOptions.Contains("backing_fmt"))
            throw new ImageFormatException("Use of backing file requires explicit backing format");
        try
        {
            DiskImage.Create(new CreateRequest(target, options.OutputFormat)
            {
                Size = size,
                Options = targetOptions,
                Secrets = options.Secrets,
                // qemu-img convert creates the target without opening its backing file (bdrv_create, not
                // bdrv_img_create); a bad one shows when the new target is opened.
                UnsafeBacking = true,
            });
        }
        catch (ImageCreateException e)
        {
            throw new ImageFormatException($"{target}: error while converting {options.OutputFormat}: {e.Message}", e);
        }
    }

    private static IImage OpenTarget(string target, ConvertOptions options) =>
        DiskImage.Open(target, (options.TargetOptions ?? new OpenOptions
        {
            Format = options.OutputFormat,
            DriverOptions = OpenOptionsOf(options.OutputOptions),
        }) with
        {
            ReadOnly = false,
            Cache = options.TargetCache,
            Secrets = options.Secrets,
            Warning = options.SourceOptions.Warning,
        });

    // The creation options open the new target too (encrypt.key-secret); its size is no raw window, though.
    private static ImageOptions OpenOptionsOf(ImageOptions createOptions)
    {
        var open = new ImageOptions();
        foreach (var (name, value) in createOptions.Values)
            if (name != "size") open.Set(name, value);
        return open;
    }

    /// <summary>The copy loop for one target; keeps the buffers and progress state.</summary>
    private sealed partial class Copier(IImage output, ConvertOptions options, long toCopy, ICompressedClusterWriter? compressor,
        IProgress<double>? progress, CancellationToken cancellationToken)
    {
        // Chunks read and scanned ahead of the writer on as many threads: reading overlaps writing, as with qemu-img's
        // 8 coroutines (-m), whose requests run on threads of their own too.
        private const int Depth = 8;

        // --salvage reads one chunk at a time, so its warnings come in the order of the offsets, as qemu's.
        private readonly int _depth = options.Salvage ? 1 : Depth;

        private readonly bool _targetIsFresh = !options.SkipCreate && output.Format.NewImagesReadAsZeros && output.HasZeroInit;
        private readonly IImage? _targetBase = output.Backing;
        // Zero detection works on whole target clusters where the format fills a new cluster anyway: a cluster
        // holding any data is written whole (one allocation, one write). Clusters larger than a chunk (RBD's 4 MiB objects)
        // never fit in one: there zeros are found per sparse block, as qemu does (its alignment is 4 KiB).
        private readonly long _block = Math.Max(options.SparseSize == 0 ? 4096 : options.SparseSize,
            output.FillsNewClusters && output.GetInfo().ClusterSize is long cluster && cluster <= ChunkSize ? cluster : 0);
        private long _copied;

        /// <summary>Target offset up to which everything has been written (or left a hole on purpose).</summary>
        public long Reached { get; private set; }

        private enum SegmentKind { Write, Zero, Skip }

        private sealed class Chunk(long at, int length, IImage source, long sourceOffset)
        {
            public long At { get; } = at;
            public IImage Source { get; } = source;
            public long SourceOffset { get; } = sourceOffset;
            public int Length { get; } = length;
            public byte[] Buffer { get; } = ArrayPool<byte>.Shared.Rent(ChunkSize);
            public List<(int Start, int End, SegmentKind Kind)> Segments { get; } = [];
        }

        public void Copy(IImage source, long targetOffset)
        {
            using var readers = new WorkerThreads(_depth);
            var pending = new Queue<(Chunk Chunk, WorkerThreads.Job Job)>();
            try { CopyRuns(source, targetOffset, readers, pending); }
            catch (OperationCanceledException)
            {
                // The chunks read ahead are dropped, but only once no worker reads the source or target any more.
                foreach (var (_, job) in pending) job.WaitDone();
                throw;
            }
        }

        private void CopyRuns(IImage source, long targetOffset, WorkerThreads readers, Queue<(Chunk Chunk, WorkerThreads.Job Job)> pending)
        {
            // The length when the copy starts: a source that shrinks under it fails on its next read, never ends the copy early.
            long length = source.Length;
            long offset = 0;
            while (offset < length)
            {
                cancellationToken.ThrowIfCancellationRequested();
                // Holes are taken whole (one step, as qemu's progress shows); data goes in 2 MiB chunks.
                long remaining = length - offset;
                var status = options.SparseSize == 0 && _targetBase == null && !MayOffload(source)
                    ? new BlockStatus(offset, remaining, BlockState.Data)
                    : SourceErrors.Status(source, offset, remaining, BlockStatusError(offset));
                long runEnd = offset + status.Length;
                bool copy = CopiesData(status) || options.SparseSize == 0;
                if (CopiesData(status))
                {
                    // Data runs that follow each other fill one chunk: a compressed image reports one cluster at a time.
                    long chunkEnd = Math.Min(length, AlignDown(targetOffset + offset + ChunkSize, ChunkSize) - targetOffset);
                    while (runEnd < chunkEnd && SourceErrors.Status(source, runEnd, length - runEnd, BlockStatusError(runEnd)) is { IsData: true, IsZero: false } next)
                        runEnd += next.Length;
                }
                // Holes that follow each other (unallocated, then zero clusters) are one hole, as qemu's BLK_ZERO runs:
                // a boundary between them inside a target block must not make that block a copy of zeros.
                while (!copy && runEnd < length
                    && SourceErrors.Status(source, runEnd, length - runEnd, BlockStatusError(runEnd)) is { IsData: false } hole)
                    runEnd += hole.Length;
                if (!copy && runEnd < length)
                {
                    // Stop a hole at the block boundary before the data that follows, so data is written in whole
                    // target clusters (a partial cluster costs a copy-on-write of zeros); a hole inside one block
                    // is simply copied with its data.
                    long alignedEnd = AlignDown(targetOffset + runEnd, _block) - targetOffset;
                    if (alignedEnd <= offset) copy = true;
                    else runEnd = alignedEnd;
                }
                if (copy && OffloadsRun(source, status))
                {
                    while (pending.Count > 0) Commit(pending.Dequeue());
                    Offload(source, offset, targetOffset + offset, runEnd - offset);
                }
                else if (copy)
                {
                    runEnd = Math.Min(length, AlignUp(targetOffset + runEnd, _block) - targetOffset);
                    // One status query per run (asking per chunk would rescan long runs); chunks end on 2 MiB
                    // boundaries of the target.
                    while (offset < runEnd)
                    {
                        long chunkEnd = Math.Min(runEnd, AlignDown(targetOffset + offset + ChunkSize, ChunkSize) - targetOffset);
                        long from = offset;
                        var chunk = new Chunk(targetOffset + offset, (int)(chunkEnd - offset), source, offset);
                        pending.Enqueue((chunk, readers.Run(() => Prepare(source, from, chunk))));
                        if (pending.Count >= _depth)
                        {
                            cancellationToken.ThrowIfCancellationRequested();
                            Commit(pending.Dequeue());
                        }
                        offset = chunkEnd;
                    }
                }
                else
                {
                    WriteZeroRun(targetOffset + offset, status.Length);
                }
                offset = runEnd;
            }
            while (pending.Count > 0) Commit(pending.Dequeue());
        }

        /// <summary>Runs on a worker: reads a chunk and decides which aligned blocks are written, zeroed or skipped.</summary>
        private void Prepare(IImage source, long sourceOffset, Chunk chunk)
        {
            var data = chunk.Buffer.AsSpan(0, chunk.Length);
            SourceErrors.Read(source, sourceOffset, data);
            byte[]? baseBuffer = null;
            try
            {
                Span<byte> baseData = default;
                if (_targetBase != null)
                {
                    baseBuffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
                    baseData = baseBuffer.AsSpan(0, chunk.Length);
                    BackingChain.Read(_targetBase, chunk.At, baseData);
                }
                Plan(chunk, data, baseData);
            }
            finally
            {
                if (baseBuffer != null) ArrayPool<byte>.Shared.Return(baseBuffer);
            }
        }

        /// <summary>Splits a chunk at -S aligned blocks: zero blocks stay holes, blocks equal to the target's base stay unwritten.</summary>
        private void Plan(Chunk chunk, ReadOnlySpan<byte> data, ReadOnlySpan<byte> baseData)
        {
            long block = _block;
            int pos = 0;
            while (pos < data.Length)
            {
                // Blocks are aligned to the target offset, as qemu aligns its zero detection.
                int blockLen = (int)Math.Min(block - (chunk.At + pos) % block, data.Length - pos);
                var piece = data.Slice(pos, blockLen);
                SegmentKind kind;
                if (_targetBase != null)
                    kind = piece.SequenceEqual(baseData.Slice(pos, blockLen)) ? SegmentKind.Skip : SegmentKind.Write;
                else if (options.SparseSize != 0 && blockLen == block && !piece.ContainsAnyExcept((byte)0))
                    kind = _targetIsFresh ? SegmentKind.Skip : SegmentKind.Zero;
                else
                    kind = SegmentKind.Write;
                var segments = chunk.Segments;
                if (segments.Count > 0 && segments[^1].Kind == kind)
                    segments[^1] = (segments[^1].Start, pos + blockLen, kind);
                else
                    segments.Add((pos, pos + blockLen, kind));
                pos += blockLen;
            }
        }

        /// <summary>Runs on the copying thread, in order: writes what <see cref="Plan"/> decided.</summary>
        private void Commit((Chunk Chunk, WorkerThreads.Job Job) item)
        {
            var (chunk, job) = item;
            job.Wait();
            try
            {
                foreach (var (start, end, kind) in chunk.Segments)
                {
                    if (kind == SegmentKind.Write) WriteOrClone(chunk, start, end);
                    else if (kind == SegmentKind.Zero) output.WriteZeroes(chunk.At + start, end - start, mayDeallocate: true);
                }
                Reached = chunk.At + chunk.Length;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk.Buffer);
            }
            Copied(chunk.Length);
        }

        private static long AlignDown(long value, long alignment) => value - value % alignment;

        private static long AlignUp(long value, long alignment) => AlignDown(value + alignment - 1, alignment);

        private void WriteZeroRun(long at, long length)
        {
            if (_targetBase != null)
            {
                // The base may hold data here: zeros must be written where it does not read as zeros.
                byte[] baseBuffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
                try
                {
                    for (long done = 0; done < length; done += ChunkSize)
                    {
                        int n = (int)Math.Min(ChunkSize, length - done);
                        var chunk = baseBuffer.AsSpan(0, n);
                        BackingChain.Read(_targetBase, at + done, chunk);
                        if (chunk.ContainsAnyExcept((byte)0)) output.WriteZeroes(at + done, n, mayDeallocate: false);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(baseBuffer);
                }
                return;
            }
            if (!_targetIsFresh) output.WriteZeroes(at, length, mayDeallocate: true);
        }

        /// <summary>
        /// -c: whole target clusters of the concatenated sources in batches, read and stored in order by this thread,
        /// compressed on the workers in between into buffers that are reused (a few MiB in all, whatever the image
        /// size). The output does not depend on the worker count: every cluster compresses alone and batches are
        /// stored in order.
        /// </summary>
        public void CopyCompressed(IReadOnlyList<IImage> sources)
        {
            var writer = compressor!;
            int cluster = writer.ClusterSize;
            int threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
            // Twice as many batches as workers: the workers compress while this thread reads and stores.
            int inFlight = 2 * threads;
            int batchClusters = (int)Math.Clamp(CompressedBufferBytes / inFlight / cluster, 1, Math.Max(1, ChunkSize / cluster));
            using var workers = new WorkerThreads(threads);
            var pending = new Queue<(CompressedBatch Batch, WorkerThreads.Job Job)>();
            try
            {
                StoreBatches(sources, workers, pending, inFlight, batchClusters);
            }
            catch (OperationCanceledException)
            {
                foreach (var (_, job) in pending) job.WaitDone();
                throw;
            }
        }

        private void StoreBatches(IReadOnlyList<IImage> sources, WorkerThreads workers, Queue<(CompressedBatch Batch, WorkerThreads.Job Job)> pending,
            int inFlight, int batchClusters)
        {
            var writer = compressor!;
            int cluster = writer.ClusterSize;
            var spare = new Stack<CompressedBatch>();
            long length = sources.Sum(s => s.Length);
            long batchBytes = (long)batchClusters * cluster;
            for (long start = 0; start < length; start += batchBytes)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var batch = spare.Count > 0 ? spare.Pop() : new CompressedBatch(batchClusters, cluster, writer.MaxCompressedLength);
                batch.Bytes = (int)Math.Min(batchBytes, length - start);
                batch.Start = start;
                ReadSkippingHoles(sources, start, batch.Data.AsSpan(0, batch.Count * cluster), batch.Bytes);
                var job = workers.Run(() => batch.Compress(writer, options.QemuIdenticalCompression));
                pending.Enqueue((batch, job));
                if (pending.Count >= inFlight) spare.Push(Store(pending.Dequeue()));
            }
            while (pending.Count > 0) Store(pending.Dequeue());
        }

        /// <summary>
        /// Writes one compressed batch: compressed clusters, plain ones that did not shrink; zero clusters are left
        /// out unless the target's base or its old content would show through there (qemu writes zeros then).
        /// </summary>
        private CompressedBatch Store((CompressedBatch Batch, WorkerThreads.Job Job) item)
        {
            var (batch, job) = item;
            job.Wait();
            var writer = compressor!;
            int cluster = batch.ClusterSize;
            long zeroStart = -1;
            for (int i = 0; i < batch.Count; i++)
            {
                long at = batch.Start + (long)i * cluster;
                int stored = batch.Lengths[i];
                if (stored == CompressedBatch.ZeroCluster)
                {
                    if (zeroStart < 0) zeroStart = at;
                    continue;
                }
                if (zeroStart >= 0) WriteZeroRun(zeroStart, at - zeroStart);
                zeroStart = -1;
                if (stored > 0) writer.WriteCompressedCluster(at, batch.StoredCluster(i));
                else output.Write(at, batch.Data.AsSpan(i * cluster, (int)Math.Min(cluster, output.Length - at)));
            }
            if (zeroStart >= 0) WriteZeroRun(zeroStart, Math.Min(batch.Start + batch.Bytes, output.Length) - zeroStart);
            Copied(batch.Bytes);
            Reached = batch.Start + batch.Bytes;
            return batch;
        }

        /// <summary>Reads target bytes [start, start + bytes) from the concatenated sources; their holes read as zeros.</summary>
        private static void ReadSkippingHoles(IReadOnlyList<IImage> sources, long start, Span<byte> buffer, int bytes)
        {
            buffer.Clear();
            long end = start + bytes;
            long sourceStart = 0;
            foreach (var source in sources)
            {
                long sourceEnd = sourceStart + source.Length;
                long offset = Math.Max(start, sourceStart) - sourceStart;
                long stop = Math.Min(end, sourceEnd) - sourceStart;
                while (offset < stop)
                {
                    var status = SourceErrors.Status(source, offset, stop - offset, BlockStatusError(offset));
                    if (status.IsData) SourceErrors.Read(source, offset, buffer.Slice((int)(sourceStart + offset - start), (int)status.Length));
                    offset += status.Length;
                }
                sourceStart = sourceEnd;
                if (sourceStart >= end) break;
            }
        }

        private void Copied(long bytes)
        {
            _copied += bytes;
            if (progress != null && toCopy > 0) progress.Report(Math.Min(100.0, 100.0 * _copied / toCopy));
        }
    }
}
