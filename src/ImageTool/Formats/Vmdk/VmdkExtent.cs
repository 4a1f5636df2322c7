using ImageTool.IO;

namespace ImageTool.Formats.Vmdk;

/// <summary>
/// One extent of a VMDK disk: a slice of the virtual disk stored in one file. Offsets given to the
/// members are relative to the extent's start.
/// </summary>
internal abstract class VmdkExtent : IDisposable
{
    protected VmdkExtent(HostFile file, bool ownsFile, long sectors, string? type)
    {
        File = file;
        OwnsFile = ownsFile;
        Sectors = sectors;
        Type = type;
    }

    public HostFile File { get; }

    /// <summary>False when the extent lives in the descriptor's own file (monolithic images).</summary>
    public bool OwnsFile { get; }

    public long Sectors { get; }
    public long Length => Sectors * 512;

    /// <summary>Where the extent starts in the virtual disk (bytes); set once when the disk is assembled.</summary>
    public long Start { get; set; }

    /// <summary>The descriptor's type word (SPARSE, FLAT, ...), or null for the extent of a monolithic file.</summary>
    public string? Type { get; }

    public abstract bool IsFlat { get; }
    public virtual bool IsCompressed => false;

    /// <summary>Grain size in bytes (0 for flat extents).</summary>
    public virtual int GrainSize => 0;

    /// <summary>The run starting at <paramref name="offset"/>, at most <paramref name="length"/> bytes.</summary>
    public abstract VmdkRun Map(long offset, long length);

    /// <summary>Reads from a Compressed run (the whole range lies in one grain).</summary>
    public virtual void ReadCompressed(VmdkRun run, long offset, Span<byte> buffer) =>
        throw new InvalidOperationException("Not a compressed extent");

    /// <summary>
    /// Writes data. <paramref name="fillBelow"/> supplies what an unallocated grain holds (parent data or
    /// zeros) for the parts of a new grain the write does not cover; its offsets are virtual-disk offsets.
    /// </summary>
    public abstract void Write(long offset, ReadOnlySpan<byte> data, FillBelow fillBelow);

    /// <summary>Makes a range read as zeros; <paramref name="hasBacking"/> says whether unallocated reads come from a parent.</summary>
    public abstract void WriteZeroes(long offset, long length, bool mayDeallocate, bool hasBacking, FillBelow fillBelow);

    public virtual void Flush() => File.Flush();

    public void Dispose()
    {
        if (OwnsFile) File.Dispose();
    }

    public delegate void FillBelow(long virtualOffset, Span<byte> buffer);
}
