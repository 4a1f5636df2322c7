using ImageTool.IO;

namespace ImageTool.Capabilities;

/// <summary>
/// An image that stores some of its data plainly in a local host file (raw, uncompressed and unencrypted
/// qcow2/vmdk/vhdx clusters): such runs can be moved by the kernel instead of being read and written.
/// </summary>
internal interface IHostFileRuns
{
    /// <summary>
    /// The run at <paramref name="offset"/> (at most <paramref name="length"/> bytes) when this image stores it
    /// plainly in a local file, else null (a hole, zeros, compressed or encrypted data, a remote file).
    /// </summary>
    HostRun? FindHostRun(long offset, long length);

    /// <summary>False when no run can be found at all (the container is remote): then nobody needs to ask per run.</summary>
    bool MayHaveHostRuns => true;
}

/// <summary>Bytes of a virtual disk stored as they are at <paramref name="HostOffset"/> in <paramref name="File"/>.</summary>
internal readonly record struct HostRun(HostFile File, long HostOffset, long Length)
{
    /// <summary>The run <paramref name="status"/> describes when it is plain data in <paramref name="file"/>.</summary>
    public static HostRun? Of(BlockStatus status, HostFile file) =>
        status is { State: BlockState.Data, Depth: 0, HostOffset: long host } && file.IsKernelCopyable
            ? new HostRun(file, host, status.Length)
            : null;
}
