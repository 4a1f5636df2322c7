using ImageTool.Info;

namespace ImageTool.Operations;

/// <summary>
/// A source read by <c>convert --salvage</c>, as qemu-img: a failed block status query is retried on a quarter of
/// the range until one sector fails alone, which is then taken as data; a failed read is retried sector by sector,
/// and each sector that still fails reads as zeros. Each sector given up on is a warning.
/// </summary>
internal sealed class SalvagingImage(IImage image, Action<ImageWarning>? warning) : IImage
{
    private const int Sector = 512;

    public string FileName => image.FileName;
    public Formats.IImageFormat Format => image.Format;
    public string? BackingFileName => image.BackingFileName;
    public string? BackingFormat => image.BackingFormat;
    public IImage? Backing => image.Backing;
    public long Length => image.Length;
    public bool IsReadOnly => image.IsReadOnly;
    bool IImage.HasZeroInit => image.HasZeroInit;

    public void AttachBacking(IImage? backing) => image.AttachBacking(backing);

    public BlockStatus GetBlockStatus(long offset, long length)
    {
        long sectors = (length + Sector - 1) / Sector;
        while (true)
        {
            try
            {
                return image.GetBlockStatus(offset, Math.Min(length, sectors * Sector));
            }
            catch (Exception e) when (SourceErrors.IsReadFailure(e))
            {
                if (sectors > 1)
                {
                    sectors = (sectors + 3) / 4;
                    continue;
                }
                Warn($"error while reading block status at offset {offset}: {SourceErrors.Errno(e)}");
                return new BlockStatus(offset, Math.Min(length, Sector), BlockState.Data);
            }
        }
    }

    public void Read(long offset, Span<byte> buffer)
    {
        try
        {
            image.Read(offset, buffer);
            return;
        }
        catch (Exception e) when (SourceErrors.IsReadFailure(e) && buffer.Length <= Sector)
        {
            Warn($"error while reading offset {offset}: {SourceErrors.Errno(e)}");
            buffer.Clear();
            return;
        }
        catch (Exception e) when (SourceErrors.IsReadFailure(e))
        {
            // Retried below, one sector at a time.
        }
        for (int done = 0; done < buffer.Length; done += Sector)
        {
            var sector = buffer.Slice(done, Math.Min(Sector, buffer.Length - done));
            try
            {
                image.Read(offset + done, sector);
            }
            catch (Exception e) when (SourceErrors.IsReadFailure(e))
            {
                Warn($"error while reading offset {offset + done}: {SourceErrors.Errno(e)}");
                sector.Clear();
            }
        }
    }

    private void Warn(string message) => warning?.Invoke($"{ProgramName.Current}: warning: {message}");

    public void Write(long offset, ReadOnlySpan<byte> buffer) => image.Write(offset, buffer);
    public void WriteZeroes(long offset, long length, bool mayDeallocate) => image.WriteZeroes(offset, length, mayDeallocate);
    public void Flush() => image.Flush();
    public ImageInfo GetInfo() => image.GetInfo();

    // The source stays open for the caller, who disposes it.
    public void Dispose()
    {
    }
}
