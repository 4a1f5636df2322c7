namespace ImageTool.IO;

/// <summary>
/// qemu's block layer asks the file under a format about plainly stored data: where that file has a hole (or
/// ends), the data reads as zeros and is reported as "zero" (preallocated metadata, subcluster padding).
/// </summary>
internal static class HostHoles
{
    /// <summary><paramref name="status"/>, cut at the next hole/data boundary of <paramref name="file"/> and marked zero over holes.</summary>
    public static BlockStatus Refine(BlockStatus status, HostFile file)
    {
        if (status.State != BlockState.Data || status.HostOffset is not { } host) return status;
        long fileLength = file.Length;
        // Past the end of the file, and in the file's trailing hole, the whole run reads as zeros.
        if (host >= fileLength) return status with { State = BlockState.Data | BlockState.Zero };
        long? data = file.NextData(host);
        if (data == null) return status with { State = BlockState.Data | BlockState.Zero };
        if (data > host) return status with { Length = Math.Min(status.Length, data.Value - host), State = BlockState.Data | BlockState.Zero };
        long hole = Math.Min(file.NextHole(host), fileLength);
        return status with { Length = Math.Min(status.Length, hole - host) };
    }
}
