namespace ImageTool;

/// <summary>qemu's -t/-T cache modes. Only <see cref="Unsafe"/> changes behaviour here: Flush then skips fsync.</summary>
public enum CacheMode
{
    /// <summary>The host's page cache holds writes until a flush (qemu's default).</summary>
    Writeback,
    /// <summary>O_DIRECT: the host's page cache is bypassed.</summary>
    None,
    /// <summary>Every write is flushed.</summary>
    Writethrough,
    /// <summary>O_DIRECT and every write flushed.</summary>
    DirectSync,
    /// <summary>Flush writes metadata but does not wait for the disk (qemu's default for a convert target).</summary>
    Unsafe,
}
