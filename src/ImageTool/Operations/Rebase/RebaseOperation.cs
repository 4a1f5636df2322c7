using System.Buffers;
using ImageTool.Formats;

namespace ImageTool.Operations;

/// <summary>
/// <c>img rebase</c>: in safe mode every range the overlay does not store itself is compared between the old
/// and the new backing chain, and what differs is copied into the overlay (old content wins); then the header
/// names the new backing file. With -u only the header changes.
/// </summary>
public static class RebaseOperation
{
    private const int ChunkSize = 2 << 20;
    private const int Sector = 512;

    /// <exception cref="OperationCanceledException">
    /// <paramref name="cancellationToken"/> fired while copying: the image was flushed and still names its old backing
    /// file, so it reads as before (part of the old backing data is now its own); the message says so.
    /// </exception>
    public static void Run(RebaseOptions o, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var image = DiskImage.Open(o.Path, new OpenOptions
        {
            ReadOnly = false,
            Format = o.Format,
            OpenBacking = !o.Unsafe,
            Secrets = o.Secrets,
            Warning = o.Warning,
        });
        if (o.NewBackingFormat != null && DiskImage.FindFormat(o.NewBackingFormat) == null)
            throw new ImageFormatException($"Invalid format name: '{o.NewBackingFormat}'");
        string? newName = string.IsNullOrEmpty(o.NewBacking) ? null : o.NewBacking;
        if (o.Unsafe)
        {
            o.Progress?.Report(0);
            o.Progress?.Report(100);
        }
        else
        {
            IImage? newBacking = null;
            try
            {
                if (newName != null)
                {
                    string path = BackingPath.Resolve(image.FileName, newName);
                    try
                    {
                        newBacking = FormatRegistry.Open(path, new OpenOptions
                        {
                            Format = o.NewBackingFormat,
                            ForceShare = o.ForceShare,
                            Secrets = o.Secrets,
                        });
                    }
                    catch (ImageFormatException e)
                    {
                        throw new ImageFormatException($"Could not open new backing file '{path}': {e.Message}", e);
                    }
                }
                CopyDifferences(image, image.Backing, newBacking, o.Progress, cancellationToken);
            }
            catch (OperationCanceledException e) when (e.CancellationToken == cancellationToken)
            {
                image.Flush();
                throw new OperationCanceledException(
                    $"Rebase cancelled: '{o.Path}' was flushed and still uses its old backing file, so it reads as before", e, cancellationToken);
            }
            finally
            {
                newBacking?.Dispose();
            }
        }
        if (image is not IBackingFileChanger changer)
            throw new ImageFormatException($"Could not change the backing file to '{newName}': Operation not supported");
        if (newName != null && o.NewBackingFormat == null)
            throw new ImageFormatException($"Could not change the backing file to '{newName}': backing format must be specified");
        changer.ChangeBackingFile(newName, newName == null ? null : o.NewBackingFormat);
        image.Flush();
    }

    /// <summary>qemu's loop: 2 MiB steps cut at allocation and backing-size boundaries; differing sectors get the old content.</summary>
    private static void CopyDifferences(IImage image, IImage? oldBacking, IImage? newBacking, IProgress<double>? progress,
        CancellationToken cancellationToken)
    {
        long size = image.Length;
        long oldSize = oldBacking?.Length ?? 0;
        long newSize = newBacking?.Length ?? 0;
        float step = 100f / Math.Max(1, size / ChunkSize);
        float done = 0;
        progress?.Report(0);
        byte[] oldBuffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        byte[] newBuffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            for (long offset = 0, n; offset < size; offset += n)
            {
                cancellationToken.ThrowIfCancellationRequested();
                n = Math.Min(ChunkSize, size - offset);
                var status = image.GetBlockStatus(offset, n);
                n = status.Length;
                if (status.IsAllocated) continue;
                bool oldIsZero = offset >= oldSize;
                if (!oldIsZero) n = Math.Min(n, oldSize - offset);
                if (offset < newSize && newBacking != null) n = Math.Min(n, newSize - offset);
                var oldData = oldBuffer.AsSpan(0, (int)n);
                var newData = newBuffer.AsSpan(0, (int)n);
                if (oldIsZero) oldData.Clear();
                else oldBacking!.Read(offset, oldData);
                if (newBacking == null || offset >= newSize) newData.Clear();
                else newBacking.Read(offset, newData);
                WriteDifferingRuns(image, offset, oldData, newData, oldIsZero);
                done = Math.Min(100, done + step);
                progress?.Report(done);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(oldBuffer);
            ArrayPool<byte>.Shared.Return(newBuffer);
        }
        progress?.Report(100);
    }

    private static void WriteDifferingRuns(IImage image, long offset, ReadOnlySpan<byte> oldData, ReadOnlySpan<byte> newData, bool oldIsZero)
    {
        int at = 0;
        while (at < oldData.Length)
        {
            // A run of sectors that all differ, or all match.
            bool differs = SectorDiffers(oldData, newData, at);
            int end = Math.Min(at + Sector, oldData.Length);
            while (end < oldData.Length && SectorDiffers(oldData, newData, end) == differs) end = Math.Min(end + Sector, oldData.Length);
            if (differs)
            {
                if (oldIsZero) image.WriteZeroes(offset + at, end - at, mayDeallocate: false);
                else image.Write(offset + at, oldData[at..end]);
            }
            at = end;
        }
    }

    private static bool SectorDiffers(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, int at)
    {
        int n = Math.Min(Sector, a.Length - at);
        return !a.Slice(at, n).SequenceEqual(b.Slice(at, n));
    }
}
