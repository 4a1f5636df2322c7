using System.Buffers;

namespace ImageTool.Operations;

/// <summary>
/// <c>img convert</c>: copies one or more sources (concatenated) into a new or existing target. Ranges that
/// block status reports as unallocated or zero are never read; zero runs of at least -S stay holes.
/// </summary>
public static class ConvertOperation
{
    private const int ChunkSize = 2 << 20;

    public static void Run(IReadOnlyList<string> sources, string target, ConvertOptions options)
    {
        if (options.BackingFile != null && DiskImage.FindFormat(options.OutputFormat) is { } format
            && !format.CreateOptions.Any(o => o.Name == "backing_file"))
            throw new ImageFormatException($"Backing file not supported for file format '{format.Name}'");
        if (options.BackingFile != null && sources.Count > 1)
            throw new ArgumentException("Having a backing file for the target makes no sense when concatenating multiple input images");
        var opened = new List<IImage>();
        try
        {
            foreach (var source in sources)
                opened.Add(DiskImage.Open(source, options.SourceOptions with { ReadOnly = true }));
            Run(opened, target, options);
        }
        finally
        {
            foreach (var image in opened) image.Dispose();
        }
    }

    public static void Run(IReadOnlyList<IImage> sources, string target, ConvertOptions options)
    {
        long total = sources.Sum(s => s.Length);
        if (!options.SkipCreate) CreateTarget(target, total, options);

        using var output = OpenTarget(target, options);
        if (output.Length < total) throw new ImageFormatException("output file is smaller than input file");
        ICompressedClusterWriter? compressor = null;
        if (options.Compress || output is ICompressedClusterWriter { NeedsCompressedWrites: true })
            compressor = output as ICompressedClusterWriter ?? throw new UnsupportedFeatureException("Compression not supported for this file format");

        var progress = options.Progress == null ? null : new ProgressMeter(options.Progress);
        progress?.Report(0);
        // Like qemu, progress counts only the bytes that will be copied, found by a block-status pass first.
        long toCopy = progress == null ? 0 : sources.Sum(s => CountCopied(s, options));
        var copier = new Copier(output, options, toCopy, compressor, progress);
        long at = 0;
        foreach (var source in sources)
        {
            copier.Copy(source, at);
            at += source.Length;
        }
        progress?.Report(100);
        output.Flush();
    }

    private static long CountCopied(IImage source, ConvertOptions options)
    {
        if (options.SparseSize == 0) return source.Length;
        long count = 0;
        for (long offset = 0; offset < source.Length;)
        {
            var status = BackingChain.GetStatus(source, offset, source.Length - offset);
            if (status.IsData) count += status.Length;
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
            });
        }
        catch (ImageCreateException e)
        {
            throw new ImageFormatException($"{target}: error while converting {options.OutputFormat}: {e.Message}", e);
        }
    }

    private static IImage OpenTarget(string target, ConvertOptions options) =>
        DiskImage.Open(target, new OpenOptions
        {
            ReadOnly = false,
            Format = options.OutputFormat,
            Secrets = options.Secrets,
            DriverOptions = options.OutputOptions,
        });

    /// <summary>The copy loop for one target; keeps the buffers and progress state.</summary>
    private sealed class Copier(IImage output, ConvertOptions options, long toCopy, ICompressedClusterWriter? compressor, ProgressMeter? progress)
    {
        private readonly bool _targetIsFresh = !options.SkipCreate;
        private readonly IImage? _targetBase = output.Backing;
        private long _copied;

        public void Copy(IImage source, long targetOffset)
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
            byte[] baseBuffer = _targetBase != null ? ArrayPool<byte>.Shared.Rent(ChunkSize) : [];
            try
            {
                long offset = 0;
                if (compressor != null)
                {
                    CopyCompressed(source, targetOffset);
                    return;
                }
                while (offset < source.Length)
                {
                    // Holes are taken whole (one step, as qemu's progress shows); data goes in 2 MiB chunks.
                    long remaining = source.Length - offset;
                    var status = options.SparseSize == 0 && _targetBase == null
                        ? new BlockStatus(offset, remaining, BlockState.Data)
                        : BackingChain.GetStatus(source, offset, remaining);
                    long length = status.IsData || options.SparseSize == 0 ? Math.Min(status.Length, ChunkSize) : status.Length;
                    if (status.IsData || options.SparseSize == 0)
                    {
                        var chunk = buffer.AsSpan(0, (int)length);
                        source.Read(offset, chunk);
                        WriteData(targetOffset + offset, chunk, baseBuffer);
                        Copied(length);
                    }
                    else
                    {
                        WriteZeroRun(targetOffset + offset, length, baseBuffer);
                    }
                    offset += length;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
                if (baseBuffer.Length > 0) ArrayPool<byte>.Shared.Return(baseBuffer);
            }
        }

        private void WriteZeroRun(long at, long length, byte[] baseBuffer)
        {
            if (_targetBase != null)
            {
                // The base may hold data here: zeros must be written where it does not read as zeros.
                for (long done = 0; done < length; done += ChunkSize)
                {
                    int n = (int)Math.Min(ChunkSize, length - done);
                    var chunk = baseBuffer.AsSpan(0, n);
                    BackingChain.Read(_targetBase, at + done, chunk);
                    if (chunk.ContainsAnyExcept((byte)0)) output.WriteZeroes(at + done, n, mayDeallocate: false);
                }
                return;
            }
            if (!_targetIsFresh) output.WriteZeroes(at, length, mayDeallocate: true);
        }

        /// <summary>Writes a chunk, leaving aligned zero blocks of at least -S bytes as holes (or equal-to-base blocks unwritten).</summary>
        private void WriteData(long at, Span<byte> chunk, byte[] baseBuffer)
        {
            long block = options.SparseSize == 0 ? 4096 : options.SparseSize;
            Span<byte> baseChunk = default;
            if (_targetBase != null)
            {
                baseChunk = baseBuffer.AsSpan(0, chunk.Length);
                BackingChain.Read(_targetBase, at, baseChunk);
            }
            int pos = 0;
            while (pos < chunk.Length)
            {
                // Blocks are aligned to the target offset, as qemu aligns its zero detection.
                int blockLen = (int)Math.Min(block - (at + pos) % block, chunk.Length - pos);
                var piece = chunk.Slice(pos, blockLen);
                bool skip = _targetBase != null
                    ? piece.SequenceEqual(baseChunk.Slice(pos, blockLen))
                    : options.SparseSize != 0 && blockLen == block && !piece.ContainsAnyExcept((byte)0);
                if (skip)
                {
                    if (_targetBase == null && !_targetIsFresh) output.WriteZeroes(at + pos, blockLen, mayDeallocate: true);
                    pos += blockLen;
                    continue;
                }
                // Extend over following blocks that are also written, so the target sees large writes.
                int end = pos + blockLen;
                while (end < chunk.Length)
                {
                    int nextLen = (int)Math.Min(block, chunk.Length - end);
                    var next = chunk.Slice(end, nextLen);
                    bool nextSkip = _targetBase != null
                        ? next.SequenceEqual(baseChunk.Slice(end, nextLen))
                        : options.SparseSize != 0 && nextLen == block && !next.ContainsAnyExcept((byte)0);
                    if (nextSkip) break;
                    end += nextLen;
                }
                output.Write(at + pos, chunk[pos..end]);
                pos = end;
            }
        }

        /// <summary>-c: whole clusters, compressed on every core, stored in order by this thread; zero clusters skipped.</summary>
        private void CopyCompressed(IImage source, long targetOffset)
        {
            var writer = compressor!;
            int cluster = writer.ClusterSize;
            int batchClusters = Math.Max(1, (16 << 20) / cluster);
            int threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
            var batch = new byte[(long)batchClusters * cluster];
            var results = new byte[]?[batchClusters];
            var isZero = new bool[batchClusters];
            long length = source.Length;
            for (long start = 0; start < length; start += batch.Length)
            {
                int bytes = (int)Math.Min(batch.Length, length - start);
                int count = (bytes + cluster - 1) / cluster;
                ReadSkippingHoles(source, start, batch.AsSpan(0, count * cluster), bytes);
                Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
                {
                    var data = batch.AsSpan(i * cluster, cluster);
                    isZero[i] = !data.ContainsAnyExcept((byte)0);
                    results[i] = isZero[i] ? null : writer.CompressCluster(data);
                });
                for (int i = 0; i < count; i++)
                {
                    long at = targetOffset + start + (long)i * cluster;
                    if (isZero[i]) continue;
                    if (results[i] is { } compressed) writer.WriteCompressedCluster(at, compressed);
                    else output.Write(at, batch.AsSpan(i * cluster, (int)Math.Min(cluster, output.Length - at)));
                }
                Copied(bytes);
            }
        }

        private static void ReadSkippingHoles(IImage source, long start, Span<byte> buffer, int bytes)
        {
            buffer.Clear();
            long offset = start;
            long end = start + bytes;
            while (offset < end)
            {
                var status = BackingChain.GetStatus(source, offset, end - offset);
                if (status.IsData) source.Read(offset, buffer.Slice((int)(offset - start), (int)status.Length));
                offset += status.Length;
            }
        }

        private void Copied(long bytes)
        {
            _copied += bytes;
            if (progress != null && toCopy > 0) progress.Report(100.0 * _copied / toCopy);
        }
    }
}
