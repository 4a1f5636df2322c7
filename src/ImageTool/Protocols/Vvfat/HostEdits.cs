using System.Runtime.InteropServices;

namespace ImageTool.Protocols.Vvfat;

/// <summary>
/// The changes a writable vvfat disk makes to its host directory, on paths held as raw bytes. Each returns null
/// on success or the reason (strerror) it failed.
/// </summary>
internal static unsafe partial class HostEdits
{
    public static string? WriteFile(byte[] path, bool create, Func<long, int, byte[]?> pieces, long size)
    {
        int fd;
        fixed (byte* p = Terminated(path)) fd = Open(p, 0x80000 | 0x1 | 0x40 | (create ? 0x200 : 0) /* O_CLOEXEC|O_WRONLY|O_CREAT[|O_TRUNC] */, 0x1B6);
        if (fd < 0) return Marshal.GetLastPInvokeErrorMessage();
        try
        {
            // pieces(offset, index) gives the bytes to store at offset, or null to keep what the file holds.
            for (int index = 0; index * (long)VvfatLayout.ClusterSize < size; index++)
            {
                long offset = index * (long)VvfatLayout.ClusterSize;
                byte[]? data = pieces(offset, index);
                if (data == null) continue;
                int length = (int)Math.Min(data.Length, size - offset);
                fixed (byte* b = data)
                {
                    for (int done = 0; done < length;)
                    {
                        nint n = PWrite(fd, b + done, length - done, offset + done);
                        if (n < 0) return Marshal.GetLastPInvokeErrorMessage();
                        done += (int)n;
                    }
                }
            }
            if (FTruncate(fd, size) != 0) return Marshal.GetLastPInvokeErrorMessage();
            return null;
        }
        finally
        {
            _ = Close(fd);
        }
    }

    public static string? MakeDirectory(byte[] path)
    {
        fixed (byte* p = Terminated(path)) return MkDir(p, 0x1ED) == 0 ? null : Marshal.GetLastPInvokeErrorMessage();
    }

    public static string? Rename(byte[] from, byte[] to)
    {
        fixed (byte* f = Terminated(from))
        fixed (byte* t = Terminated(to))
            return RenameAt(f, t) == 0 ? null : Marshal.GetLastPInvokeErrorMessage();
    }

    public static string? Delete(byte[] path, bool directory)
    {
        fixed (byte* p = Terminated(path)) return (directory ? RmDir(p) : Unlink(p)) == 0 ? null : Marshal.GetLastPInvokeErrorMessage();
    }

    private static byte[] Terminated(byte[] path) => [.. path, 0];

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true)]
    private static partial int Open(byte* path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "pwrite64", SetLastError = true)]
    private static partial nint PWrite(int fd, byte* buffer, nint count, long offset);

    [LibraryImport("libc", EntryPoint = "ftruncate64", SetLastError = true)]
    private static partial int FTruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "mkdir", SetLastError = true)]
    private static partial int MkDir(byte* path, int mode);

    [LibraryImport("libc", EntryPoint = "rename", SetLastError = true)]
    private static partial int RenameAt(byte* from, byte* to);

    [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true)]
    private static partial int Unlink(byte* path);

    [LibraryImport("libc", EntryPoint = "rmdir", SetLastError = true)]
    private static partial int RmDir(byte* path);
}
