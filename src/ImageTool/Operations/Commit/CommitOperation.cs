using System.Buffers;
using ImageTool.Formats;

namespace ImageTool.Operations;

/// <summary>
/// <c>img commit</c>: copies what the top image (and any image between it and the base) stores into the
/// base, then empties the top unless told to keep it (qemu-img 7.2 img_commit).
/// </summary>
public static class CommitOperation
{
    private const int ChunkSize = 2 << 20;

    /// <exception cref="OperationCanceledException">
    /// <paramref name="cancellationToken"/> fired: the base holds part of the top's data, flushed, so it is consistent;
    /// the top is left as it was (not emptied), so the chain still reads the same. The message says so.
    /// </exception>
    public static void Run(string path, CommitOptions options, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var chain = new List<IImage>();
        IImage? baseImage = null;
        try
        {
            chain.Add(DiskImage.Open(path, new OpenOptions
            {
                ReadOnly = false,
                Format = options.Format,
                OpenBacking = false,
                Secrets = options.Secrets,
                Warning = options.Warning,
            }));
            if (chain[0].BackingFileName == null) throw new ImageFormatException("Image does not have a backing file");
            int baseIndex = FindBase(chain, path, options);
            var above = chain[baseIndex - 1];
            string basePath = BackingPath.Resolve(above.FileName, above.BackingFileName!);
            chain[baseIndex].Dispose();
            chain.RemoveAt(baseIndex);
            baseImage = DiskImage.Open(basePath, new OpenOptions
            {
                ReadOnly = false,
                Format = above.BackingFormat,
                Secrets = options.Secrets,
                Warning = options.Warning,
            });
            for (int i = 0; i < chain.Count - 1; i++) chain[i].AttachBacking(chain[i + 1]);
            chain[^1].AttachBacking(baseImage);
            var top = chain[0];
            if (baseImage.Length < top.Length) GrowBase(baseImage, top.Length);
            try { Copy(chain, baseImage, options.Progress, cancellationToken); }
            catch (ImageIOException e)
            {
                throw new ImageFormatException($"Block job failed: {e.Message}", e);
            }
            catch (IOException e)
            {
                // A request the file below failed (ENOSPC, EIO): the job ends with its errno.
                throw new ImageFormatException($"Block job failed: {e.Message}", e);
            }
            catch (OperationCanceledException e) when (e.CancellationToken == cancellationToken)
            {
                baseImage.Flush();
                throw new OperationCanceledException(
                    $"Commit cancelled: '{basePath}' holds part of the data of '{path}' and was flushed, so it is consistent; '{path}' was not emptied",
                    e, cancellationToken);
            }
            baseImage.Flush();
            bool drop = options.Drop || options.Base != null;
            // qemu-img ignores ENOTSUP from bdrv_make_empty: a format without it (qed, vdi, parallels) keeps its data.
            if (!drop && top is IMakeEmpty emptiable)
            {
                try { emptiable.MakeEmpty(); }
                catch (IOException e) { throw new ImageFormatException($"Failed to empty {top.FileName}: {e.Message}", e); }
            }
            top.Flush();
        }
        finally
        {
            // The top owns the chain below it once attached.
            if (chain.Count > 0) chain[0].Dispose();
            else baseImage?.Dispose();
        }
    }

    /// <summary>
    /// qemu's commit job first grows a shorter base to the top's size; a base that cannot grow (vmdk, or a v2 qcow2
    /// whose longer backing file would show through) fails the job before anything is copied.
    /// </summary>
    private static void GrowBase(IImage baseImage, long size)
    {
        try
        {
            if (baseImage is not IResizable resizable) throw new UnsupportedFeatureException("Operation not supported");
            resizable.Resize(size, "off");
        }
        catch (UnsupportedFeatureException e)
        {
            throw new ImageFormatException("Block job failed: Operation not supported", e);
        }
    }

    /// <summary>Opens the chain below the top read-only until the base; returns the base's index.</summary>
    private static int FindBase(List<IImage> chain, string path, CommitOptions options)
    {
        while (true)
        {
            var current = chain[^1];
            if (current.BackingFileName == null || chain.Count > FormatRegistry.MaxChainDepth)
                throw new ImageFormatException($"Did not find '{options.Base}' in the backing chain of '{path}'");
            string next = BackingPath.Resolve(current.FileName, current.BackingFileName);
            // As qemu's bdrv_find_backing_image: a relative -b names a file next to the image whose backing it is.
            string? wanted = options.Base == null ? null : Path.GetFullPath(BackingPath.Resolve(current.FileName, options.Base));
            chain.Add(DiskImage.Open(next, new OpenOptions
            {
                Format = current.BackingFormat,
                OpenBacking = false,
                Secrets = options.Secrets,
            }));
            if (wanted == null || Path.GetFullPath(next) == wanted) return chain.Count - 1;
        }
    }

    /// <summary>Copies every range allocated above the base, reading through the top.</summary>
    private static void Copy(List<IImage> above, IImage target, IProgress<double>? meter, CancellationToken cancellationToken)
    {
        meter?.Report(0);
        var top = above[0];
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            long offset = 0;
            while (offset < top.Length)
            {
                cancellationToken.ThrowIfCancellationRequested();
                long length = Math.Min(top.Length - offset, 1L << 30);
                var status = StatusAbove(above, offset, length);
                if (status.IsAllocated)
                {
                    if (status.IsZero)
                    {
                        target.WriteZeroes(offset, status.Length, mayDeallocate: true);
                    }
                    else
                    {
                        for (long done = 0; done < status.Length;)
                        {
                            cancellationToken.ThrowIfCancellationRequested();
                            int n = (int)Math.Min(ChunkSize, status.Length - done);
                            top.Read(offset + done, buffer.AsSpan(0, n));
                            target.Write(offset + done, buffer.AsSpan(0, n));
                            done += n;
                        }
                    }
                }
                offset += status.Length;
                meter?.Report(offset * 100.0 / top.Length);
            }
            meter?.Report(100);
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }

    /// <summary>The status of a run in the images above the base: allocated in one of them, or not at all.</summary>
    private static BlockStatus StatusAbove(List<IImage> above, long offset, long length)
    {
        foreach (var image in above)
        {
            // An image shorter than the top reads as zeros past its end; qemu counts those zeros as its own.
            if (offset >= image.Length) return new BlockStatus(offset, length, BlockState.Zero);
            var status = image.GetBlockStatus(offset, Math.Min(length, image.Length - offset));
            if (status.IsAllocated) return status;
            length = status.Length;
        }
        return new BlockStatus(offset, length, BlockState.Unallocated);
    }
}
