namespace ImageTool;

/// <summary>How an image and the images below it combine: the rules every format shares.</summary>
internal static class BackingChain
{
    /// <summary>Reads from a backing image; bytes past its end (a shorter base) read as zeros, no base reads zeros.</summary>
    public static void Read(IBlockDevice? backing, long offset, Span<byte> buffer)
    {
        if (backing == null || offset >= backing.Length)
        {
            buffer.Clear();
            return;
        }
        int inBase = (int)Math.Min(buffer.Length, backing.Length - offset);
        backing.Read(offset, buffer[..inBase]);
        buffer[inBase..].Clear();
    }

    /// <summary>
    /// Block status through the chain: unallocated runs are resolved in the backing images, and the
    /// result's Depth says which image decided. Unallocated survives only where no image in the chain
    /// stores anything (reads are zeros there).
    /// </summary>
    public static BlockStatus GetStatus(IImage image, long offset, long length)
    {
        var status = image.GetBlockStatus(offset, length);
        if (status.IsAllocated) return status;
        if (image.Backing is not { } backing) return image.UnallocatedReadsAsZero ? status : status with { State = BlockState.Data };
        if (offset >= backing.Length) return status with { State = BlockState.Zero };
        long inBase = Math.Min(status.Length, backing.Length - offset);
        var below = GetStatus(backing, offset, inBase);
        return below with { Depth = below.Depth + 1 };
    }

    /// <summary>The image and every image below it, top first.</summary>
    public static IEnumerable<IImage> Images(IImage top)
    {
        for (IImage? i = top; i != null; i = i.Backing) yield return i;
    }
}
