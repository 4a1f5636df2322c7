using System.Buffers;

namespace ImageTool.Operations;

public static partial class ConvertOperation
{
    /// <summary>
    /// Copy offload: runs a source stores plainly in a local file go to the target through the kernel. With zero
    /// detection (the default) the data is still read and scanned, and only the blocks that would be written are
    /// shared with the source (FICLONERANGE), so the target ends up exactly as with plain writes. Without zero
    /// detection (-C, -S 0) data runs are never read: copy_file_range or a clone moves them whole.
    /// </summary>
    private sealed partial class Copier
    {
        private IHostFileCopyTarget? OffloadTarget =>
            compressor == null && _targetBase == null ? output as IHostFileCopyTarget : null;

        // -C and -S 0 write data runs whole, as they are: moving them unread cannot change the result.
        private bool CopiesRunsWhole => options.CopyOffload || options.SparseSize == 0;

        private bool MayOffload(IImage source) => CopiesRunsWhole && OffloadTarget != null && HasHostRuns(source);

        private bool OffloadsRun(IImage source, BlockStatus status) => MayOffload(source) && CopiesData(status);

        private static bool HasHostRuns(IImage source) => BackingChain.Images(source).Any(i => i is IHostFileRuns { MayHaveHostRuns: true });

        /// <summary>Copies [sourceOffset, +length) unread where the source stores it plainly; the rest is read and written.</summary>
        private void Offload(IImage source, long sourceOffset, long targetOffset, long length)
        {
            var target = OffloadTarget!;
            byte[]? buffer = null;
            try
            {
                for (long done = 0; done < length;)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    long at = targetOffset + done, from = sourceOffset + done;
                    var (run, pieceLength) = HostPiece(source, from, Math.Min(length - done, ChunkSize * 64L));
                    long moved = 0;
                    if (run is { } r)
                    {
                        // The target takes whole blocks (its clusters): the part before the first boundary is written.
                        moved = Math.Min(pieceLength, (_block - at % _block) % _block);
                        WriteThrough(source, from, at, moved, ref buffer);
                        moved += target.CopyFromHostFile(r.File, r.HostOffset + moved, at + moved, pieceLength - moved, cloneOnly: false);
                    }
                    WriteThrough(source, from + moved, at + moved, pieceLength - moved, ref buffer);
                    done += pieceLength;
                    Reached = targetOffset + done;
                    Copied(pieceLength);
                }
            }
            finally
            {
                if (buffer != null) ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        /// <summary>Reads and writes a range the kernel did not move, a chunk at a time.</summary>
        private void WriteThrough(IImage source, long sourceOffset, long targetOffset, long length, ref byte[]? buffer)
        {
            for (long at = 0; at < length; at += ChunkSize)
            {
                buffer ??= ArrayPool<byte>.Shared.Rent(ChunkSize);
                var span = buffer.AsSpan(0, (int)Math.Min(ChunkSize, length - at));
                SourceErrors.Read(source, sourceOffset + at, span);
                output.Write(targetOffset + at, span);
            }
        }

        /// <summary>Writes a planned segment of a chunk, sharing the source's blocks instead where the file system can.</summary>
        private void WriteOrClone(Chunk chunk, int start, int end)
        {
            var target = OffloadTarget;
            int done = start;
            // Only a source stored in host files has pieces to clone (and a salvaged one is read, never cloned).
            while (done < end && target is { CanClone: true } && HasHostRuns(chunk.Source))
            {
                var (run, pieceLength) = HostPiece(chunk.Source, chunk.SourceOffset + done, end - done);
                long moved = run is { } r ? target.CopyFromHostFile(r.File, r.HostOffset, chunk.At + done, pieceLength, cloneOnly: true) : 0;
                if (moved < pieceLength) output.Write(chunk.At + done + moved, chunk.Buffer.AsSpan(done + (int)moved, (int)(pieceLength - moved)));
                done += (int)pieceLength;
            }
            if (done < end) output.Write(chunk.At + done, chunk.Buffer.AsSpan(done, end - done));
        }

        /// <summary>
        /// The piece of <paramref name="image"/> (or, where it is unallocated, of its backing chain) at
        /// <paramref name="offset"/>: its host run when stored plainly in a local file, and its length either way.
        /// </summary>
        private static (HostRun? Run, long Length) HostPiece(IImage image, long offset, long length)
        {
            while (true)
            {
                if (image is IHostFileRuns runs && runs.FindHostRun(offset, length) is { } run) return (run, run.Length);
                var status = SourceErrors.Status(image, offset, length, BlockStatusError(offset));
                if (status.Depth == 0 || image.Backing is not { } backing) return (null, status.Length);
                // Status names the first image below that decides the run; look there for its file.
                length = status.Length;
                image = backing;
            }
        }
    }
}
