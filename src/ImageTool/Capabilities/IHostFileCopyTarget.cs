using ImageTool.IO;

namespace ImageTool.Capabilities;

/// <summary>
/// An image whose data can be filled from another host file by the kernel (copy_file_range, or FICLONERANGE
/// so that both files share the blocks). Convert uses it for runs of a <see cref="IHostFileRuns"/> source.
/// </summary>
internal interface IHostFileCopyTarget
{
    /// <summary>Whether block sharing may still work; false once the file system refused it.</summary>
    bool CanClone { get; }

    /// <summary>
    /// Moves <paramref name="length"/> bytes at <paramref name="sourceOffset"/> of <paramref name="source"/> to
    /// <paramref name="offset"/> of this image; with <paramref name="cloneOnly"/> only where the blocks can be
    /// shared. Returns how many bytes from the start were moved: the caller writes the rest as usual.
    /// </summary>
    long CopyFromHostFile(HostFile source, long sourceOffset, long offset, long length, bool cloneOnly);
}
