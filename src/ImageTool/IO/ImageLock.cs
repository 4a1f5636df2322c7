using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace ImageTool.IO;

/// <summary>
/// qemu's image locking (block/file-posix.c): shared OFD byte-range locks on the image file. Byte 100 + bit
/// says "I use this permission", byte 200 + bit says "nobody else may". Before locking, an exclusive test
/// lock on the opposite bytes finds a conflicting process, which gives qemu's "Failed to get ... lock".
/// </summary>
/// <param name="Path">The file, as named in the error hint.</param>
/// <param name="Used">Permission bits this open uses.</param>
/// <param name="Unshared">Permission bits this open forbids to others.</param>
internal sealed record ImageLock(string Path, Permission Used, Permission Unshared)
{
    private const int UsedBase = 100;
    private const int UnsharedBase = 200;
    private static readonly string[] Names = ["consistent read", "write", "write unchanged", "resize"];

    /// <summary>
    /// What qemu-img takes: raw passes the caller's sharing through (everything shared); formats with
    /// metadata never let others write or resize their file. Writers also use write and, with metadata, resize.
    /// -U shares everything.
    /// </summary>
    public static ImageLock For(string path, bool hasMetadata, bool readOnly, bool forceShare)
    {
        var used = Permission.ConsistentRead;
        if (!readOnly) used |= Permission.Write | (hasMetadata ? Permission.Resize : 0);
        var unshared = hasMetadata && !forceShare ? Permission.Write | Permission.Resize : 0;
        return new ImageLock(path, used, unshared);
    }

    /// <summary>Checks for conflicts and takes the locks on <paramref name="handle"/>; they last until it is closed.</summary>
    /// <exception cref="ImageLockedException">Another process holds a conflicting lock.</exception>
    public void Apply(SafeFileHandle handle)
    {
        int fd = (int)handle.DangerousGetHandle();
        for (int bit = 0; bit < Names.Length; bit++)
            if (Used.HasFlag((Permission)(1 << bit)) && IsLockedByOther(fd, UnsharedBase + bit))
                throw Conflict($"Failed to get \"{Names[bit]}\" lock");
        for (int bit = 0; bit < Names.Length; bit++)
            if (Unshared.HasFlag((Permission)(1 << bit)) && IsLockedByOther(fd, UsedBase + bit))
                throw Conflict($"Failed to get shared \"{Names[bit]}\" lock");
        for (int bit = 0; bit < Names.Length; bit++)
        {
            if (Used.HasFlag((Permission)(1 << bit))) SetReadLock(fd, UsedBase + bit);
            if (Unshared.HasFlag((Permission)(1 << bit))) SetReadLock(fd, UnsharedBase + bit);
        }
    }

    private ImageLockedException Conflict(string what) => new($"{what}\nIs another process using the image [{Path}]?");

    [StructLayout(LayoutKind.Sequential)]
    private struct Flock
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Length;
        public int Pid;
    }

    private const int FOfdGetLk = 36;
    private const int FOfdSetLk = 37;
    private const short ReadLock = 0;
    private const short WriteLock = 1;
    private const short Unlocked = 2;

    private static unsafe bool IsLockedByOther(int fd, int offset)
    {
        var request = new Flock { Type = WriteLock, Start = offset, Length = 1 };
        // Without OFD lock support there is nothing to test (qemu then does not lock either).
        if (Native.Fcntl(fd, FOfdGetLk, &request) != 0) return false;
        return request.Type != Unlocked;
    }

    private static unsafe void SetReadLock(int fd, int offset)
    {
        var request = new Flock { Type = ReadLock, Start = offset, Length = 1 };
        _ = Native.Fcntl(fd, FOfdSetLk, &request);
    }
}

/// <summary>qemu's BLK_PERM_* bits that take part in locking.</summary>
[Flags]
internal enum Permission
{
    ConsistentRead = 1,
    Write = 2,
    WriteUnchanged = 4,
    Resize = 8,
}
