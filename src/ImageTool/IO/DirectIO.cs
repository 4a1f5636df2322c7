using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace ImageTool.IO;

/// <summary>
/// O_DIRECT I/O on a block device (qemu's cache.direct=on): offsets, lengths and buffers must be aligned to
/// the logical sector size, so every request goes through an aligned bounce buffer, and partial sectors at
/// the ends of a write are read first (qemu's bdrv_co_pwritev read-modify-write of unaligned requests).
/// </summary>
internal sealed unsafe class DirectIO
{
    private const int F_GETFL = 3;
    private const int F_SETFL = 4;
    private const int BounceSize = 1 << 20;

    // Buffers are page-aligned, which satisfies every logical sector size up to 4 KiB and more.
    private const int MemoryAlignment = 4096;

    public int SectorSize { get; }

    private DirectIO(int sectorSize) => SectorSize = sectorSize;

    /// <summary>Switches the open descriptor to O_DIRECT.</summary>
    public static DirectIO Enable(int fd, string path)
    {
        int flags = Native.Fcntl(fd, F_GETFL, (void*)0);
        if (flags < 0 || Native.Fcntl(fd, F_SETFL, (void*)(nint)(flags | HostDevice.DirectFlag)) != 0)
            throw new IOException($"{path}: Could not enable O_DIRECT: {Native.ErrorText(Marshal.GetLastPInvokeError())}");
        return new DirectIO(HostDevice.SectorSizes(fd).Logical);
    }

    public void Read(SafeFileHandle handle, long offset, Span<byte> buffer, long deviceLength)
    {
        byte* bounce = (byte*)NativeMemory.AlignedAlloc(BounceSize, MemoryAlignment);
        try
        {
            int done = 0;
            while (done < buffer.Length)
            {
                long at = offset + done;
                long start = at & ~(long)(SectorSize - 1);
                int skip = (int)(at - start);
                int span = (int)Math.Min(BounceSize, Align(skip + buffer.Length - done));
                int got = ReadAligned(handle, bounce, start, span, deviceLength);
                int n = Math.Min(span - skip, buffer.Length - done);
                var source = new ReadOnlySpan<byte>(bounce + skip, n);
                int valid = Math.Clamp(got - skip, 0, n);
                source[..valid].CopyTo(buffer.Slice(done, valid));
                buffer.Slice(done + valid, n - valid).Clear();
                done += n;
            }
        }
        finally
        {
            NativeMemory.AlignedFree(bounce);
        }
    }

    public void Write(SafeFileHandle handle, long offset, ReadOnlySpan<byte> buffer, long deviceLength)
    {
        byte* bounce = (byte*)NativeMemory.AlignedAlloc(BounceSize, MemoryAlignment);
        try
        {
            int done = 0;
            while (done < buffer.Length)
            {
                long at = offset + done;
                long start = at & ~(long)(SectorSize - 1);
                int skip = (int)(at - start);
                int span = (int)Math.Min(BounceSize, Align(skip + buffer.Length - done));
                int n = Math.Min(span - skip, buffer.Length - done);
                // Partial first and last sectors keep the bytes around the request.
                if (skip != 0) ReadAligned(handle, bounce, start, SectorSize, deviceLength);
                if ((skip + n) % SectorSize != 0)
                {
                    int last = (skip + n) / SectorSize * SectorSize;
                    ReadAligned(handle, bounce + last, start + last, SectorSize, deviceLength);
                }
                buffer.Slice(done, n).CopyTo(new Span<byte>(bounce + skip, n));
                RandomAccess.Write(handle, new ReadOnlySpan<byte>(bounce, span), start);
                done += n;
            }
        }
        finally
        {
            NativeMemory.AlignedFree(bounce);
        }
    }

    private int Align(long length) => (int)Math.Min(BounceSize, (length + SectorSize - 1) & ~(long)(SectorSize - 1));

    // Reads whole sectors; the tail past the end of the device reads as zeros.
    private static int ReadAligned(SafeFileHandle handle, byte* into, long start, int length, long deviceLength)
    {
        int done = 0;
        while (done < length && start + done < deviceLength)
        {
            int n = RandomAccess.Read(handle, new Span<byte>(into + done, length - done), start + done);
            if (n == 0) break;
            done += n;
        }
        new Span<byte>(into + done, length - done).Clear();
        return done;
    }
}
