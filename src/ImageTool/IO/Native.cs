using System.Runtime.InteropServices;

namespace ImageTool.IO;

/// <summary>The few libc calls the BCL lacks: SEEK_DATA/SEEK_HOLE, fallocate, statx, fsync, ioctl, copy_file_range.</summary>
internal static partial class Native
{
    public const int SeekData = 3;
    public const int SeekHole = 4;
    public const int FallocKeepSize = 1;
    public const int FallocPunchHole = 2;
    public const int FallocZeroRange = 0x10;
    public const int Enxio = 6;

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    public static partial long LSeek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    public static partial int FAllocate(int fd, int mode, long offset, long length);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static unsafe partial int Fcntl(int fd, int command, void* argument);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static unsafe partial int Ioctl(int fd, ulong request, void* argument);

    [LibraryImport("libc", EntryPoint = "copy_file_range", SetLastError = true)]
    public static unsafe partial nint CopyFileRange(int fdIn, long* offIn, int fdOut, long* offOut, nuint length, uint flags);

    /// <summary>_IOW(0x94, 13, struct file_clone_range): share a range of one file's blocks with another.</summary>
    public const ulong FiCloneRange = 0x4020940D;
    public const int Eio = 5;
    public const int Enospc = 28;
    public const int Edquot = 122;

    public const int AtFdCwd = -100;
    public const int AtEmptyPath = 0x1000;
    public const uint StatxType = 0x1;
    public const uint StatxBlocks = 0x400;
    public const uint StatxMtime = 0x40;

    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
