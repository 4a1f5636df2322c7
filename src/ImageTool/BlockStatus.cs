namespace ImageTool;

/// <summary>One run of bytes with the same allocation state.</summary>
/// <param name="Offset">Start of the run in the virtual disk.</param>
/// <param name="Length">Length of the run in bytes.</param>
/// <param name="State">What the run holds.</param>
/// <param name="Depth">0 when this image decides the content; n when the n-th backing image below does.</param>
/// <param name="HostOffset">Where the run is stored in the image's file when stored plainly (qemu map's "offset"); else null.</param>
/// <param name="HostFile">The file that holds the run when <paramref name="HostOffset"/> is set.</param>
public readonly record struct BlockStatus(long Offset, long Length, BlockState State, int Depth = 0, long? HostOffset = null, string? HostFile = null)
{
    /// <summary>The first byte after the run.</summary>
    public long End => Offset + Length;
    /// <summary>The run holds stored data.</summary>
    public bool IsData => (State & BlockState.Data) != 0;
    /// <summary>The run is known to read as zeros.</summary>
    public bool IsZero => (State & BlockState.Zero) != 0;
    /// <summary>This image or one below it decides the run's content (not <see cref="BlockState.Unallocated"/>).</summary>
    public bool IsAllocated => State != BlockState.Unallocated;
}

/// <summary>Allocation state of a range (qemu's BDRV_BLOCK_DATA / BDRV_BLOCK_ZERO).</summary>
[Flags]
public enum BlockState
{
    /// <summary>Not stored in this image: reads come from the backing image, or zeros without one.</summary>
    Unallocated = 0,
    /// <summary>Stored data.</summary>
    Data = 1,
    /// <summary>Known to read as zeros.</summary>
    Zero = 2,
}
