using System.Runtime.InteropServices;

namespace ImageTool.IO;

/// <summary>
/// Host block and character devices (qemu's host_device/host_cdrom protocols, block/file-posix.c): what a
/// path is, and the Linux block-device ioctls for size, sector sizes and zeroing.
/// </summary>
internal static class HostDevice
{
    // linux/fs.h
    private const ulong BlkGetSize64 = 0x80081272;
    private const ulong BlkSszGet = 0x1268;
    private const ulong BlkPbszGet = 0x127B;
    private const ulong BlkZeroOut = 0x127F;

    private const int TypeMask = 0xF000;
    private const int TypeRegular = 0x8000;
    private const int TypeBlock = 0x6000;
    private const int TypeCharacter = 0x2000;
    private const int TypeDirectory = 0x4000;

    /// <summary>What a path names (following links); null when it cannot be looked at (the open then says why).</summary>
    public static unsafe HostFileKind? KindOf(string path)
    {
        byte* buffer = stackalloc byte[256];
        if (Native.Statx(Native.AtFdCwd, path, 0, Native.StatxType, buffer) != 0) return null;
        return (*(ushort*)(buffer + 28) & TypeMask) switch
        {
            TypeRegular => HostFileKind.Regular,
            TypeBlock => HostFileKind.BlockDevice,
            TypeCharacter => HostFileKind.CharacterDevice,
            TypeDirectory => HostFileKind.Directory,
            _ => HostFileKind.Other,
        };
    }

    /// <summary>The device's size in bytes (BLKGETSIZE64): stat reports 0 for device nodes.</summary>
    public static unsafe long Size(int fd, string path)
    {
        ulong size;
        if (Native.Ioctl(fd, BlkGetSize64, &size) != 0) throw Error(path, "BLKGETSIZE64");
        return (long)size;
    }

    /// <summary>Logical and physical sector sizes (BLKSSZGET, BLKPBSZGET); 512 where the device does not say.</summary>
    public static unsafe (int Logical, int Physical) SectorSizes(int fd)
    {
        int logical = 0;
        uint physical = 0;
        if (Native.Ioctl(fd, BlkSszGet, &logical) != 0 || logical <= 0 || (logical & (logical - 1)) != 0) logical = 512;
        if (Native.Ioctl(fd, BlkPbszGet, &physical) != 0 || physical < (uint)logical) physical = (uint)logical;
        return (logical, (int)physical);
    }

    /// <summary>Zeroes a sector-aligned range on the device (BLKZEROOUT); false where the device cannot.</summary>
    public static unsafe bool ZeroOut(int fd, long offset, long length)
    {
        ulong* range = stackalloc ulong[2];
        range[0] = (ulong)offset;
        range[1] = (ulong)length;
        return Native.Ioctl(fd, BlkZeroOut, range) == 0;
    }

    /// <summary>O_DIRECT, which differs between architectures.</summary>
    public static int DirectFlag => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x10000 : 0x4000;

    private static IOException Error(string path, string call) =>
        new($"{path}: {call} failed: {Native.ErrorText(Marshal.GetLastPInvokeError())}");
}

/// <summary>What a host path names, as qemu's protocol probe and open checks see it.</summary>
internal enum HostFileKind
{
    Regular,
    BlockDevice,
    CharacterDevice,
    Directory,
    Other,
}
