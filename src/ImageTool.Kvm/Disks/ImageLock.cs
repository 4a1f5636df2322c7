using ImageTool.Kvm.Interop;

namespace ImageTool.Kvm.Disks;

/// <summary>
/// qemu's image locking (block/file-posix.c): open-file-description byte locks at 100+bit for each permission
/// held and 200+bit for each permission not shared with others (bits: 0 consistent read, 1 write, 2 write
/// unchanged, 3 resize). A running guest thereby keeps qemu-img (and qemu) from writing its images, and
/// refuses to start on an image another process is writing.
/// </summary>
internal sealed unsafe class ImageLock : IDisposable
{
    private const int PermBase = 100;
    private const int SharedBase = 200;
    private const int ConsistentRead = 0, Write = 1, WriteUnchanged = 2, Resize = 3;
    private static readonly string[] PermNames = ["consistent read", "write", "write unchanged", "resize"];

    private readonly List<int> _fds = [];

    private ImageLock() { }

    /// <summary>Locks every file of the chain: the top image as the guest uses it, backing files read-only.</summary>
    public static ImageLock Acquire(IImage image, bool writable)
    {
        var result = new ImageLock();
        try
        {
            bool top = true;
            foreach (var file in BackingChain.Images(image))
            {
                int[] held = top && writable ? [ConsistentRead, Write, Resize] : [ConsistentRead];
                int[] unshared = [Write, Resize];
                result.Lock(file.FileName, held, unshared);
                top = false;
            }
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    private void Lock(string path, int[] held, int[] unshared)
    {
        int fd = LibC.Open(path, LibC.OCloExec); // O_RDONLY: OFD locks do not need write access
        if (fd < 0) return; // not a plain file we can lock; the image itself is already open
        _fds.Add(fd);
        foreach (int bit in held) Check(fd, path, SharedBase + bit, bit);
        foreach (int bit in unshared) Check(fd, path, PermBase + bit, bit);
        foreach (int bit in held) SetLock(fd, path, PermBase + bit);
        foreach (int bit in unshared) SetLock(fd, path, SharedBase + bit);
    }

    // A write-lock test reports any lock another open file description holds on the byte.
    private static void Check(int fd, string path, int offset, int bit)
    {
        var probe = new LibC.Flock { Type = LibC.FWrLck, Whence = 0, Start = offset, Length = 1 };
        if (LibC.Fcntl(fd, LibC.FOfdGetLk, &probe) == 0 && probe.Type != LibC.FUnLck)
            throw Locked(path, bit);
    }

    private static void SetLock(int fd, string path, int offset)
    {
        var lockRange = new LibC.Flock { Type = LibC.FRdLck, Whence = 0, Start = offset, Length = 1 };
        if (LibC.Fcntl(fd, LibC.FOfdSetLk, &lockRange) != 0) throw Locked(path, offset % 100);
    }

    private static ImageLockedException Locked(string path, int bit) =>
        new($"Failed to get \"{PermNames[bit]}\" lock\nIs another process using the image [{path}]?");

    public void Dispose()
    {
        foreach (int fd in _fds) LibC.Close(fd);
        _fds.Clear();
    }
}
