using System.Runtime.InteropServices;
using ImageTool.Protocols;
using ImageTool.Protocols.Blkdebug;
using ImageTool.Protocols.Curl;
using ImageTool.Protocols.Vvfat;
using Microsoft.Win32.SafeHandles;

namespace ImageTool.IO;

/// <summary>
/// A file an image lives in: positional I/O (pread/pwrite through RandomAccess), holes, allocation and size.
/// Every format reads and writes its files through this one type.
/// </summary>
internal sealed class HostFile : IDisposable
{
    private readonly SafeFileHandle _handle;

    // Set when the container is reached over a network protocol (nbd://, http://, ftp://...) rather than a host
    // file; _handle is then invalid.
    private readonly IRemoteFile? _remote;

    public string Path { get; private set; }
    public bool IsReadOnly { get; }

    private bool _syncOnFlush = true;

    // Host devices (qemu's host_device/host_cdrom): stat says nothing about their size, so it is asked once.
    private readonly HostFileKind _kind;
    private readonly long _deviceLength;
    private DirectIO? _direct;
    private readonly DeviceBulkReads? _bulkReads;

    // Set when the file is named through blkdebug: its rules may fail requests after a format's debug events.
    private BlkdebugNode? _debug;

    private static HostFile OpenRemote(string url, OpenOptions options, CurlProtocol? driver) =>
        new(new ReadOnlyRemoteFile(url, CurlProtocol.OpenSource(url, options, driver)));

    private HostFile(string path, SafeFileHandle handle, bool readOnly, HostFileKind kind = HostFileKind.Regular)
    {
        Path = path;
        _handle = handle;
        IsReadOnly = readOnly;
        _kind = kind;
        if (kind != HostFileKind.BlockDevice) return;
        _deviceLength = HostDevice.Size(Fd, path);
        if (readOnly) _bulkReads = new DeviceBulkReads(handle);
    }

    private HostFile(IRemoteFile remote)
    {
        Path = remote.Name;
        _handle = new SafeFileHandle();
        _remote = remote;
        IsReadOnly = remote.IsReadOnly;
        _kind = HostFileKind.Other;
    }

    /// <summary>The container is reached over the network: no host locks, sizes or allocation.</summary>
    internal bool IsRemote => _remote != null;

    /// <summary>A vvfat directory disk.</summary>
    internal bool IsVvfat => _remote is VvfatDisk;

    /// <summary>
    /// qemu's protocol driver of this file answers bdrv_get_info (file-posix and rbd do; nbd, curl, vvfat and quorum
    /// do not), so a raw image over it shows a dirty flag.
    /// </summary>
    internal bool HasDriverInfo => _remote == null || _remote is IRemoteVolume;

    /// <summary>The container is a volume of a block store (rbd): resizable, with snapshots.</summary>
    internal IRemoteVolume? Volume => _remote as IRemoteVolume;

    /// <summary>A block or character device (qemu's host_device protocol) rather than a regular file.</summary>
    internal bool IsDevice => _kind is HostFileKind.BlockDevice or HostFileKind.CharacterDevice;

    /// <summary>A character device: its size is whatever lseek says (0 for /dev/zero), not what it can give.</summary>
    internal bool IsCharacterDevice => _kind == HostFileKind.CharacterDevice;

    /// <summary>Opens an image's file with the access and cache mode the open options ask for.</summary>
    public static HostFile Open(string path, OpenOptions options)
    {
        if (BlkdebugNode.IsBlkdebugName(path))
        {
            bool inline = options.DriverOptions?.GetString("file.driver") == "blkdebug";
            return OpenBlkdebug(path, options.ReadOnly, inline ? options.DriverOptions : null, "file.");
        }
        // A protocol named with --image-opts (file.driver=...) or -f is checked against what the path is.
        string? protocol = options.DriverOptions?.GetString("file.driver")
            ?? (Formats.FormatRegistry.IsProtocol(options.Format) ? options.Format : null);
        if (protocol != null) CheckProtocol(path, protocol);
        var curl = Formats.FormatRegistry.Find(protocol ?? "") as CurlProtocol;
        if (curl != null || CurlProtocol.ForUrl(path) != null) return OpenRemote(path, options, curl);
        if (VvfatName.IsVvfat(path))
        {
            t_pendingLock = null;
            return new HostFile(VvfatDisk.Open(path, options.ReadOnly, options.Warning));
        }
        var file = Open(path, options.ReadOnly, options.DriverOptions);
        file._syncOnFlush = options.Cache != CacheMode.Unsafe;
        // Like qemu's cache.direct (-t none, directsync): O_DIRECT, here for block devices only, whose
        // I/O is then aligned to the logical sector size.
        if (file._kind == HostFileKind.BlockDevice && options.Cache is CacheMode.None or CacheMode.DirectSync)
        {
            try { file._direct = DirectIO.Enable(file.Fd, path); }
            catch
            {
                file.Dispose();
                throw;
            }
        }
        return file;
    }

    /// <summary>qemu's checks of a protocol driver named explicitly against the file it is given.</summary>
    internal static void CheckProtocol(string path, string protocol)
    {
        var kind = HostDevice.KindOf(path);
        if (kind == null) return;
        if (protocol == "file" && kind != HostFileKind.Regular)
            throw new ImageFormatException($"'file' driver requires '{path}' to be a regular file");
        if (protocol is "host_device" or "host_cdrom" && kind is not (HostFileKind.BlockDevice or HostFileKind.CharacterDevice))
            throw new ImageFormatException($"'{protocol}' driver requires '{path}' to be either a character or block device");
    }

    // The lock the registry asks for while a format opens its image (formats open their files themselves).
    [ThreadStatic] private static ImageLock? t_pendingLock;

    /// <summary>Makes the next open of the request's path on this thread take qemu's image locks.</summary>
    internal static LockScope ExpectLock(ImageLock request)
    {
        t_pendingLock = request;
        return default;
    }

    internal readonly struct LockScope : IDisposable
    {
        public void Dispose() => t_pendingLock = null;
    }

    /// <summary>Opens an existing file; errors are worded as qemu's "Could not open" reasons.</summary>
    public static HostFile Open(string path, bool readOnly) => Open(path, readOnly, driverOptions: null);

    private static HostFile Open(string path, bool readOnly, Options.ImageOptions? driverOptions)
    {
        if (BlkdebugNode.IsBlkdebugName(path)) return OpenBlkdebug(path, readOnly, null, "");
        // Remote images take no host locks (qemu's curl driver has none).
        if (CurlProtocol.ForUrl(path) != null)
        {
            t_pendingLock = null;
            return OpenRemote(path, new OpenOptions { ReadOnly = readOnly }, null);
        }
        if (RemoteFiles.TryOpen(path, readOnly, driverOptions) is { } remote)
        {
            // qemu takes no image locks on network protocols either.
            if (t_pendingLock?.Path == path) t_pendingLock = null;
            return new HostFile(remote);
        }
        var file = OpenUnlocked(path, readOnly);
        if (t_pendingLock is { } request && request.Path == path)
        {
            t_pendingLock = null;
            try
            {
                request.Apply(file._handle);
            }
            catch
            {
                file.Dispose();
                throw;
            }
        }
        return file;
    }

    private static HostFile OpenBlkdebug(string name, bool readOnly, Options.ImageOptions? options, string prefix)
    {
        var node = BlkdebugNode.Open(name, options, prefix);
        string image = BlkdebugNode.ParseName(name).Image;
        // The locks belong to the file below, as qemu's blkdebug passes its permissions down.
        if (t_pendingLock is { } request && request.Path == name) t_pendingLock = request with { Path = image };
        var file = Open(image, readOnly);
        file._debug = node;
        file.Path = name; // the image's name in messages, as qemu's blkdebug node reports its filename
        return file;
    }

    /// <summary>A format reached one of qemu's debug points (<see cref="BlkdebugEvent"/>); only blkdebug listens.</summary>
    internal void DebugEvent(string name) => _debug?.Event(name);

    private static HostFile OpenUnlocked(string path, bool readOnly)
    {
        // qemu's protocol probe: block and character devices are host_device, anything else is 'file', which
        // takes regular files only (a FIFO or socket has no size and would block the open).
        string physical = HostPath.Physical(path);
        var kind = HostDevice.KindOf(physical) ?? HostFileKind.Regular;
        if (kind is HostFileKind.Directory or HostFileKind.Other)
            throw new ImageFormatException($"'file' driver requires '{path}' to be a regular file");
        try
        {
            var handle = File.OpenHandle(physical, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite,
                FileShare.ReadWrite | FileShare.Delete);
            try
            {
                return new HostFile(path, handle, readOnly, kind);
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }
        catch (FileNotFoundException e) { throw OpenError(path, "No such file or directory", e); }
        catch (DirectoryNotFoundException e) { throw OpenError(path, "No such file or directory", e); }
        catch (UnauthorizedAccessException e) { throw OpenError(path, "Permission denied", e); }
    }

    /// <summary>Creates or truncates a file for a new image.</summary>
    public static HostFile Create(string path)
    {
        if (RemoteFiles.IsRemote(path)) throw new ImageFormatException($"Could not create '{path}': Operation not supported");
        Formats.FormatRegistry.CheckProtocolPrefix(path);
        // qemu's host_device create: the device is opened as it is, never truncated (SetLength checks the size).
        if (HostDevice.KindOf(path) is HostFileKind.BlockDevice or HostFileKind.CharacterDevice)
        {
            var device = OpenUnlocked(path, readOnly: false);
            try
            {
                new ImageLock(path, Permission.Write | Permission.Resize, Permission.Resize).Apply(device._handle);
            }
            catch
            {
                device.Dispose();
                throw;
            }
            return device;
        }
        try
        {
            // Like qemu's raw_co_create: lock before truncating, so an image in use is never clobbered.
            var handle = File.OpenHandle(HostPath.Physical(path), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
            try
            {
                new ImageLock(path, Permission.Write | Permission.Resize, Permission.Resize).Apply(handle);
                RandomAccess.SetLength(handle, 0);
            }
            catch
            {
                handle.Dispose();
                throw;
            }
            return new HostFile(path, handle, false);
        }
        catch (DirectoryNotFoundException e) { throw new ImageFormatException($"Could not create '{path}': No such file or directory", e); }
        catch (UnauthorizedAccessException e) { throw new ImageFormatException($"Could not create '{path}': Permission denied", e); }
    }

    // qemu repeats the prefix: "Could not open 'x': Could not open 'x': No such file or directory".
    private static ImageFormatException OpenError(string path, string reason, Exception inner) =>
        new($"Could not open '{path}': {reason}", inner);

    public long Length => _remote?.Length ?? _kind switch
    {
        HostFileKind.BlockDevice => _deviceLength,
        // A character device has no size: qemu's lseek(SEEK_END) gives 0 for /dev/null and /dev/zero.
        HostFileKind.CharacterDevice => Math.Max(0, Native.LSeek(Fd, 0, 2)),
        _ => RandomAccess.GetLength(_handle),
    };

    internal int Fd => (int)_handle.DangerousGetHandle();

    internal SafeFileHandle Handle => _handle;

    /// <summary>A regular local file under the page cache: the kernel can copy or share its blocks (copy_file_range, FICLONERANGE).</summary>
    internal bool IsKernelCopyable => _remote == null && _kind == HostFileKind.Regular && _direct == null;

    /// <summary>Reads exactly buffer.Length bytes; bytes past the end of the file read as zeros.</summary>
    public void Read(long offset, Span<byte> buffer)
    {
        CheckOffset(offset);
        _debug?.Check(offset, buffer.Length, BlkdebugIoType.Read);
        if (_direct != null)
        {
            _direct.Read(_handle, offset, buffer, Length);
            return;
        }
        if (_remote != null)
        {
            int got = ReadRemote(offset, buffer);
            buffer[got..].Clear();
            return;
        }
        if (_bulkReads != null && _bulkReads.TryRead(offset, buffer, _deviceLength)) return;
        int done = 0;
        while (done < buffer.Length)
        {
            int n = RandomAccess.Read(_handle, buffer[done..], offset + done);
            if (n == 0)
            {
                buffer[done..].Clear();
                return;
            }
            done += n;
        }
    }

    /// <summary>Reads what the file holds at offset; returns fewer bytes at the end of the file.</summary>
    public int ReadAvailable(long offset, Span<byte> buffer)
    {
        CheckOffset(offset);
        _debug?.Check(offset, buffer.Length, BlkdebugIoType.Read);
        if (_direct != null)
        {
            int n = (int)Math.Clamp(Length - offset, 0, buffer.Length);
            _direct.Read(_handle, offset, buffer[..n], Length);
            return n;
        }
        if (_remote != null) return ReadRemote(offset, buffer);
        if (_bulkReads != null)
        {
            int n = (int)Math.Clamp(_deviceLength - offset, 0, buffer.Length);
            if (_bulkReads.TryRead(offset, buffer[..n], _deviceLength)) return n;
        }
        int done = 0;
        while (done < buffer.Length)
        {
            int n = RandomAccess.Read(_handle, buffer[done..], offset + done);
            if (n == 0) break;
            done += n;
        }
        return done;
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        CheckOffset(offset);
        _debug?.Check(offset, buffer.Length, BlkdebugIoType.Write);
        if (_remote != null)
        {
            // An export has a fixed size: qemu fails writes past its end with EIO too.
            if (offset + buffer.Length > _remote.Length) throw new IOException("Input/output error");
            _remote.Write(offset, buffer);
            return;
        }
        if (_kind == HostFileKind.BlockDevice && offset + buffer.Length > _deviceLength)
            throw new IOException("No space left on device");
        if (_direct != null) _direct.Write(_handle, offset, buffer, Length);
        else RandomAccess.Write(_handle, buffer, offset);
    }

    private int ReadRemote(long offset, Span<byte> buffer)
    {
        int n = (int)Math.Clamp(_remote!.Length - offset, 0, buffer.Length);
        if (n > 0) _remote.Read(offset, buffer[..n]);
        return n;
    }

    /// <summary>Offsets from damaged metadata may have bit 63 set: qemu's block layer fails those requests with EIO.</summary>
    private static void CheckOffset(long offset)
    {
        if (offset < 0) throw new IOException("Input/output error");
    }

    public void SetLength(long length)
    {
        if (_remote is IRemoteVolume volume)
        {
            if (length != volume.Length) volume.Resize(length);
            return;
        }
        if (_remote != null)
        {
            if (length != _remote.Length) throw new IOException("Cannot resize NBD nodes");
            return;
        }
        if (IsDevice)
        {
            // qemu's raw_co_truncate on devices: shrinking is a no-op, growing is impossible.
            if (length > Length) throw new ImageFormatException("Cannot grow device files");
            return;
        }
        RandomAccess.SetLength(_handle, length);
    }

    public void Flush()
    {
        if (IsReadOnly) return;
        _debug?.Check(0, 0, BlkdebugIoType.Flush);
        if (_remote != null)
        {
            _remote.Flush();
            return;
        }
        if (!_syncOnFlush) return;
        if (Native.FSync(Fd) != 0) throw LastError("fsync");
    }

    /// <summary>Deallocates a range (keeps the size); returns false where the file system cannot.</summary>
    public bool PunchHole(long offset, long length)
    {
        _debug?.Check(offset, length, BlkdebugIoType.Discard);
        return PunchHostHole(offset, length);
    }

    private bool PunchHostHole(long offset, long length) => _remote != null ? _remote.PunchHole(offset, length) :
        _kind != HostFileKind.CharacterDevice
        && Native.FAllocate(Fd, Native.FallocPunchHole | Native.FallocKeepSize, offset, length) == 0;

    /// <summary>
    /// Zeroes a range on a block device without sending zeros (BLKZEROOUT, as qemu's host_device write-zeroes);
    /// false for files and for ranges not aligned to the logical sector size.
    /// </summary>
    public bool ZeroOut(long offset, long length)
    {
        if (_kind != HostFileKind.BlockDevice) return false;
        int sector = _direct?.SectorSize ?? HostDevice.SectorSizes(Fd).Logical;
        if (((offset | length) & (sector - 1)) != 0) return false;
        return HostDevice.ZeroOut(Fd, offset, length);
    }

    /// <summary>Logical and physical sector sizes of a block device (BLKSSZGET/BLKPBSZGET); null for files.</summary>
    internal (int Logical, int Physical)? SectorSizes => _kind == HostFileKind.BlockDevice ? HostDevice.SectorSizes(Fd) : null;

    /// <summary>Allocates blocks for a range (posix_fallocate semantics, may grow the file).</summary>
    public void Allocate(long offset, long length)
    {
        if (length <= 0) return;
        if (_remote != null)
        {
            if (offset + length > _remote.Length) throw new IOException("Cannot resize NBD nodes");
            return;
        }
        if (Native.FAllocate(Fd, 0, offset, length) != 0) throw LastError("fallocate");
    }

    /// <summary>The next offset at or after <paramref name="offset"/> holding data, or null past the last data.</summary>
    public long? NextData(long offset)
    {
        if (_remote != null) return _remote.NextData(offset);
        // A device is all data (qemu's host_device block status).
        if (IsDevice) return offset < Length ? offset : null;
        long r = Native.LSeek(Fd, offset, Native.SeekData);
        if (r >= 0) return r;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == Native.Enxio) return null;
        return offset; // no SEEK_DATA support: everything is data
    }

    /// <summary>A network protocol's own status of a run (<see cref="IRemoteFile.GetBlockStatus"/>), or null.</summary>
    internal BlockStatus? RemoteBlockStatus(long offset, long length) => _remote?.GetBlockStatus(offset, length);

    /// <summary>The next hole at or after <paramref name="offset"/> (the end of the file counts as a hole).</summary>
    public long NextHole(long offset)
    {
        if (_remote != null) return _remote.NextHole(offset);
        if (IsDevice) return Length;
        long r = Native.LSeek(Fd, offset, Native.SeekHole);
        return r >= 0 ? r : Length;
    }

    /// <summary>
    /// Bytes allocated on the host (st_blocks * 512), as qemu-img's "disk size"; null over the network and through
    /// blkdebug, a protocol driver that cannot tell ("unavailable").
    /// </summary>
    public unsafe long? AllocatedBytes
    {
        get
        {
            if (_debug != null) return null;
            if (_remote != null) return _remote.AllocatedBytes;
            byte* buffer = stackalloc byte[256];
            if (Native.Statx(Fd, "", Native.AtEmptyPath, Native.StatxBlocks, buffer) != 0) throw LastError("statx");
            return *(long*)(buffer + 48) * 512;
        }
    }

    private IOException LastError(string call)
    {
        int errno = Marshal.GetLastPInvokeError();
        return new IOException($"{Path}: {call} failed: {Native.ErrorText(errno)}");
    }

    public void Dispose()
    {
        _remote?.Dispose();
        _bulkReads?.Dispose();
        _handle.Dispose();
    }

    /// <summary>Allocated bytes of a file by path, without keeping it open; null if it cannot be read.</summary>
    public static long? AllocatedBytesOf(string path)
    {
        if (CurlProtocol.ForUrl(path) != null) return null;
        try
        {
            using var f = Open(path, true);
            return f.AllocatedBytes;
        }
        catch (Exception e) when (e is IOException or ImageFormatException) { return null; }
    }
}
