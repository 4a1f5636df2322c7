namespace ImageTool.IO;

/// <summary>
/// An image's container reached over a network protocol (an NBD export) instead of the host's file system.
/// <see cref="HostFile"/> forwards to it, so every format reads its container the same way wherever it lives.
/// </summary>
internal interface IRemoteFile : IDisposable
{
    /// <summary>The name the image reports (qemu's canonical URL of the node, e.g. the default port left out).</summary>
    string Name { get; }

    long Length { get; }

    bool IsReadOnly { get; }

    /// <summary>Reads exactly buffer.Length bytes inside <see cref="Length"/>.</summary>
    void Read(long offset, Span<byte> buffer);

    void Write(long offset, ReadOnlySpan<byte> buffer);

    void Flush();

    /// <summary>Deallocates a range (reads as zeros afterwards); false where the protocol cannot.</summary>
    bool PunchHole(long offset, long length);

    /// <summary>SEEK_DATA: the next offset at or after <paramref name="offset"/> that may hold data, or null.</summary>
    long? NextData(long offset);

    /// <summary>SEEK_HOLE: the next offset reading as zeros without being stored (the end counts as one).</summary>
    long NextHole(long offset);

    /// <summary>The protocol's own status of the run at <paramref name="offset"/> where holes cannot say it; null otherwise.</summary>
    BlockStatus? GetBlockStatus(long offset, long length) => null;

    /// <summary>The bytes the protocol's storage takes on the host (qemu's allocated file size), or null where unknown.</summary>
    long? AllocatedBytes => null;
}
