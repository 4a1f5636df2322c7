namespace ImageTool;

/// <summary>A virtual disk addressed by byte offset. Holes read as zeros.</summary>
/// <remarks>
/// The spine of ImageTool: every format implements it, every operation, the CLI and the KVM runner
/// consume it. Reads are safe from many threads; writes are serialised by the implementation.
/// </remarks>
public interface IBlockDevice : IDisposable
{
    /// <summary>Virtual size in bytes.</summary>
    long Length { get; }

    /// <summary>Opened read-only: <see cref="Write"/> and <see cref="WriteZeroes"/> throw.</summary>
    bool IsReadOnly { get; }

    /// <summary>Fills the whole buffer; reads past the end of stored data return zeros. Throws past <see cref="Length"/>.</summary>
    void Read(long offset, Span<byte> buffer);

    /// <summary>Writes the whole buffer at <paramref name="offset"/>, allocating as needed. Throws past <see cref="Length"/>.</summary>
    void Write(long offset, ReadOnlySpan<byte> buffer);

    /// <summary>Makes the range read as zeros; with <paramref name="mayDeallocate"/> the space may be released.</summary>
    void WriteZeroes(long offset, long length, bool mayDeallocate);

    /// <summary>
    /// Describes the run starting at <paramref name="offset"/>: its state and how long it lasts (at most
    /// <paramref name="length"/>, at least one byte). Lets convert, commit, compare and map skip holes.
    /// </summary>
    BlockStatus GetBlockStatus(long offset, long length);

    /// <summary>Makes written data and metadata durable, in a crash-consistent order.</summary>
    void Flush();
}
