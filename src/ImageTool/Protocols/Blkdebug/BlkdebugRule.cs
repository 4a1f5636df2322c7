namespace ImageTool.Protocols.Blkdebug;

/// <summary>The kinds of request an inject-error rule can fail (qapi's BlkdebugIOType).</summary>
[Flags]
internal enum BlkdebugIoType
{
    Read = 1,
    Write = 2,
    WriteZeroes = 4,
    Discard = 8,
    Flush = 16,
    BlockStatus = 32,

    /// <summary>What a rule without <c>iotype</c> fails: everything but block status.</summary>
    Default = Read | Write | WriteZeroes | Discard | Flush,
}

/// <summary>
/// One blkdebug rule: on <see cref="Event"/>, while the node is in <see cref="State"/> (0: any), either arm an error
/// for the next matching requests or move the node to <see cref="NewState"/>.
/// </summary>
internal sealed record BlkdebugRule(string Event, int State)
{
    public bool SetsState { get; init; }
    public int NewState { get; init; }

    public int Errno { get; init; } = 5; // EIO
    public bool Once { get; init; }
    public bool Immediately { get; init; }

    /// <summary>The byte the failing request must cover; -1: any request.</summary>
    public long Offset { get; init; } = -1;

    public BlkdebugIoType IoTypes { get; init; } = BlkdebugIoType.Default;

    /// <summary>Whether an armed rule fails a request of <paramref name="type"/> over [offset, offset+length).</summary>
    public bool Matches(long offset, long length, BlkdebugIoType type) =>
        (IoTypes & type) != 0 && (Offset == -1 || (length > 0 && Offset >= offset && Offset < offset + length));
}
