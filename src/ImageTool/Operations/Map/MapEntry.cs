namespace ImageTool.Operations;

/// <summary>One line of <c>img map</c>: a run with the same status through the backing chain (qemu's MapEntry).</summary>
/// <param name="Start">Guest offset.</param>
/// <param name="Length">Bytes.</param>
/// <param name="Depth">Which image of the chain decided (0 = the top one).</param>
/// <param name="Present">Allocated in the image at <paramref name="Depth"/>.</param>
/// <param name="Zero">Reads as zeros.</param>
/// <param name="Data">Holds data.</param>
/// <param name="Offset">Host offset in <paramref name="File"/> when stored plainly.</param>
/// <param name="File">The file holding the run when <paramref name="Offset"/> is set.</param>
public readonly record struct MapEntry(long Start, long Length, int Depth, bool Present, bool Zero, bool Data, long? Offset, string? File)
{
    /// <summary>qemu's entry_mergeable: same flags and file, and contiguous on the host.</summary>
    /// <param name="next">The entry that follows this one.</param>
    /// <returns>True when <paramref name="next"/> extends this entry.</returns>
    internal bool CanAbsorb(MapEntry next) =>
        Length > 0 && Zero == next.Zero && Data == next.Data && Depth == next.Depth && Present == next.Present
        && File == next.File && Offset.HasValue == next.Offset.HasValue
        && (Offset == null || Offset + Length == next.Offset);
}
