namespace ImageTool.Formats.Qcow2;

/// <summary>A snapshot's L1 table fails qemu's validation; <see cref="Errno"/> is the strerror text qemu adds where it reports only the code.</summary>
internal sealed class SnapshotTableException(string message, string errno) : ImageFormatException(message)
{
    public string Errno { get; } = errno;
}
