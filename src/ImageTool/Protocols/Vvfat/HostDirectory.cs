using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace ImageTool.Protocols.Vvfat;

/// <summary>
/// The host calls vvfat needs with names as raw bytes (a Linux file name need not be UTF-8): readdir in the
/// directory's own order, stat (following links, as qemu's stat does) and positional reads.
/// </summary>
internal static unsafe partial class HostDirectory
{
    /// <summary>What stat says of one entry: its kind, size and times (seconds since the epoch).</summary>
    public readonly record struct Status(bool IsDirectory, long Size, bool Writable, long AccessTime, long ChangeTime, long ModifyTime);

    /// <summary>The names in a directory, "." and ".." included, in readdir order; null when it cannot be opened.</summary>
    public static List<byte[]>? ReadNames(byte[] path)
    {
        nint dir;
        fixed (byte* p = Terminated(path)) dir = OpenDir(p);
        if (dir == 0) return null;
        try
        {
            var names = new List<byte[]>();
            for (byte* entry; (entry = ReadDir(dir)) != null;)
            {
                // struct dirent64: d_ino, d_off (8 bytes each), d_reclen (2), d_type (1), then the name.
                var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(entry + 19);
                names.Add(name.ToArray());
            }
            return names;
        }
        finally
        {
            _ = CloseDir(dir);
        }
    }

    /// <summary>stat(2) of a path; null when it fails (qemu skips such entries).</summary>
    public static Status? Stat(byte[] path)
    {
        // struct statx is the same on every architecture: mode @28, size @40, atime @64, ctime @96, mtime @112.
        byte* buffer = stackalloc byte[256];
        int rc;
        fixed (byte* p = Terminated(path)) rc = StatX(AtFdCwd, p, 0, 0x7ff, buffer);
        if (rc != 0) return null;
        var bytes = new ReadOnlySpan<byte>(buffer, 256);
        int mode = BinaryPrimitives.ReadUInt16LittleEndian(bytes[28..]);
        return new Status(
            (mode & 0xF000) == 0x4000,
            BinaryPrimitives.ReadInt64LittleEndian(bytes[40..]),
            (mode & 0x92) != 0,
            BinaryPrimitives.ReadInt64LittleEndian(bytes[64..]),
            BinaryPrimitives.ReadInt64LittleEndian(bytes[96..]),
            BinaryPrimitives.ReadInt64LittleEndian(bytes[112..]));
    }

    /// <summary>Reads what the file holds at offset into buffer; bytes past its end (or a failed read) are zeros.</summary>
    public static void ReadFile(byte[] path, long offset, Span<byte> buffer)
    {
        int fd;
        fixed (byte* p = Terminated(path)) fd = Open(p, 0x80000 /* O_RDONLY | O_CLOEXEC */);
        int done = 0;
        if (fd >= 0)
        {
            try
            {
                fixed (byte* b = buffer)
                {
                    while (done < buffer.Length)
                    {
                        nint n = PRead(fd, b + done, buffer.Length - done, offset + done);
                        if (n <= 0) break;
                        done += (int)n;
                    }
                }
            }
            finally
            {
                _ = Close(fd);
            }
        }
        buffer[done..].Clear();
    }

    public static byte[] Join(byte[] directory, byte[] name) => [.. directory, (byte)'/', .. name];

    private static byte[] Terminated(byte[] path) => [.. path, 0];

    private const int AtFdCwd = -100;

    [LibraryImport("libc", EntryPoint = "opendir", SetLastError = true)]
    private static partial nint OpenDir(byte* path);

    [LibraryImport("libc", EntryPoint = "readdir64")]
    private static partial byte* ReadDir(nint dir);

    [LibraryImport("libc", EntryPoint = "closedir")]
    private static partial int CloseDir(nint dir);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static partial int StatX(int dirfd, byte* path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true)]
    private static partial int Open(byte* path, int flags);

    [LibraryImport("libc", EntryPoint = "pread64", SetLastError = true)]
    private static partial nint PRead(int fd, byte* buffer, nint count, long offset);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
