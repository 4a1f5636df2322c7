using System.Runtime.InteropServices;

namespace ImageTool.IO;

/// <summary>
/// Moves byte ranges from other host files into one target file inside the kernel: FICLONERANGE shares the
/// blocks (xfs with reflink, btrfs: nothing is copied), copy_file_range copies them without passing through
/// user space. Either may be refused (another file system, no support, an unaligned range); the caller then
/// writes the rest itself, so a refusal never changes what the target holds.
/// </summary>
internal sealed class HostCopy(HostFile target)
{
    // Clone offsets and lengths must be whole file-system blocks: 4 KiB on xfs and btrfs here. A file system
    // with larger blocks refuses (EINVAL) and the copy falls back.
    private const long CloneAlignment = 4096;
    // One copy_file_range call at a time moves at most this much (the kernel caps a call near 2 GiB anyway).
    private const long CopyStep = 1L << 30;

    /// <summary>False once the file system refused to share blocks: later calls do not ask again.</summary>
    public bool CanClone { get; private set; } = target.IsKernelCopyable;

    private bool _canCopy = target.IsKernelCopyable;

    /// <summary>Whether a call may still move anything: with <paramref name="cloneOnly"/>, whether blocks may still be shared.</summary>
    public bool MayMove(bool cloneOnly) => CanClone || (!cloneOnly && _canCopy);

    /// <summary>
    /// Moves up to <paramref name="length"/> bytes of <paramref name="source"/> at <paramref name="sourceOffset"/>
    /// to <paramref name="targetOffset"/>; with <paramref name="cloneOnly"/> only whole blocks the file system can
    /// share. Returns how many bytes from the start were moved. Throws <see cref="IOException"/> when the target
    /// has no space left or the device fails.
    /// </summary>
    public long Copy(HostFile source, long sourceOffset, long targetOffset, long length, bool cloneOnly)
    {
        if (!source.IsKernelCopyable || length <= 0) return 0;
        // Past the end of the source file the bytes read as zeros: those the caller writes.
        length = Math.Min(length, source.Length - sourceOffset);
        long done = 0;
        if (CanClone && ((sourceOffset | targetOffset) & (CloneAlignment - 1)) == 0)
        {
            long blocks = length & ~(CloneAlignment - 1);
            if (blocks > 0 && Clone(source, sourceOffset, targetOffset, blocks)) done = blocks;
        }
        if (cloneOnly) return done;
        while (done < length && _canCopy)
        {
            long moved = CopyRange(source, sourceOffset + done, targetOffset + done, Math.Min(CopyStep, length - done));
            if (moved <= 0) break;
            done += moved;
        }
        return done;
    }

    private unsafe bool Clone(HostFile source, long sourceOffset, long targetOffset, long length)
    {
        // struct file_clone_range { s64 src_fd; u64 src_offset; u64 src_length; u64 dest_offset; }
        long* range = stackalloc long[4];
        range[0] = source.Fd;
        range[1] = sourceOffset;
        range[2] = length;
        range[3] = targetOffset;
        if (Native.Ioctl(target.Fd, Native.FiCloneRange, range) == 0) return true;
        ThrowIfFatal(Marshal.GetLastPInvokeError());
        CanClone = false;
        return false;
    }

    private unsafe long CopyRange(HostFile source, long sourceOffset, long targetOffset, long length)
    {
        long input = sourceOffset, output = targetOffset;
        nint moved = Native.CopyFileRange(source.Fd, &input, target.Fd, &output, (nuint)length, 0);
        if (moved >= 0) return moved;
        ThrowIfFatal(Marshal.GetLastPInvokeError());
        // EXDEV, EOPNOTSUPP, EINVAL, ENOSYS, EBADF...: this pair of files cannot; plain writes can.
        _canCopy = false;
        return 0;
    }

    // The target itself failed: writing the bytes by hand would fail the same way.
    private static void ThrowIfFatal(int errno)
    {
        if (errno is Native.Enospc or Native.Edquot or Native.Eio) throw new IOException(Native.ErrorText(errno));
    }
}
