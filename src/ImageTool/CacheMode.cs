namespace ImageTool;

/// <summary>qemu's -t/-T cache modes. Only <see cref="Unsafe"/> changes behaviour here: Flush then skips fsync.</summary>
public enum CacheMode
{
    Writeback,
    None,
    Writethrough,
    DirectSync,
    /// <summary>Flush writes metadata but does not wait for the disk (qemu's default for a convert target).</summary>
    Unsafe,
}
