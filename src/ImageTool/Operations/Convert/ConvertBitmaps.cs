namespace ImageTool.Operations;

/// <summary>
/// <c>convert --bitmaps</c>: the source's persistent dirty bitmaps are added to the target after the data, with
/// their granularity, enabled state and bits, as qemu-img 7.2 does. Inconsistent ones stop the convert before the
/// target is created, or with <c>--skip-broken-bitmaps</c> are left out with a warning.
/// </summary>
internal static class ConvertBitmaps
{
    /// <summary>The bitmaps to copy; qemu walks them newest first, so its messages name the last one first.</summary>
    public static IReadOnlyList<PersistentBitmap> Select(IImage source, bool skipBroken, Action<ImageWarning>? warning)
    {
        if (source is not IPersistentBitmaps bitmaps) return [];
        var stored = bitmaps.StoredBitmaps;
        foreach (var bitmap in stored.Reverse().Where(b => b.InUse))
        {
            if (!skipBroken)
                throw new ImageFormatException($"Cannot copy inconsistent bitmap '{bitmap.Name}'\nTry --skip-broken-bitmaps, or use '{ProgramName.Current} bitmap --remove' to delete it");
            warning?.Invoke($"img: warning: Skipping inconsistent bitmap '{bitmap.Name}'");
        }
        return stored.Where(b => !b.InUse).ToList();
    }

    public static void CheckTarget(IImage target)
    {
        if (target is not IPersistentBitmaps { CanStoreBitmaps: true })
            throw new ImageFormatException($"Format driver '{target.Format.Name}' does not support bitmaps");
    }

    /// <summary>Adds each bitmap to the target with its granularity and state, then merges the source's bits into it.</summary>
    public static void Copy(IImage source, IImage target, IReadOnlyList<PersistentBitmap> bitmaps)
    {
        foreach (var bitmap in bitmaps)
        {
            // Only reached with bitmaps Select found and a target CheckTarget accepted.
            var (from, into) = ((IPersistentBitmaps)source, (IPersistentBitmaps)target);
            into.AddBitmap(bitmap.Name, bitmap.Granularity, disabled: !bitmap.Enabled);
            into.MergeBitmap(bitmap.Name, bitmap.Name, from);
        }
    }
}
