using System.Runtime.InteropServices;
using ImageTool.Info;
using ImageTool.IO;

namespace ImageTool.Rbd;

/// <summary>
/// An RBD image through librbd as an image's container (qemu's rbd protocol): I/O, allocation from
/// rbd_diff_iterate2 at object granularity, resize, and snapshots. An image opened at a snapshot is read-only.
/// </summary>
internal sealed unsafe class RbdRemoteFile : IRemoteVolume
{
    private readonly RbdSpec _spec;
    private readonly RbdConnection _connection;
    private nint _image;
    private readonly bool _readOnly;
    private readonly long _objectSize;
    private long _length;

    // Allocated extents (whole objects), loaded on first use and dropped on every change.
    private List<(long Start, long End)>? _allocated;
    private readonly Lock _allocationLock = new();

    private readonly RbdWriteQueue _writes;

    private RbdRemoteFile(RbdSpec spec, RbdConnection connection, nint image, bool readOnly)
    {
        _spec = spec;
        _connection = connection;
        _image = image;
        _readOnly = readOnly;
        byte* info = stackalloc byte[160];
        Check(RbdNative.Stat(image, info, 160), "error getting image info");
        _length = (long)*(ulong*)info;
        _objectSize = (long)*(ulong*)(info + 8);
        _writes = new RbdWriteQueue(image);
    }

    public static RbdRemoteFile Open(string name, bool readOnly)
    {
        var spec = RbdSpec.ParseName(name);
        if (!readOnly && spec.Snapshot != null) throw new ImageFormatException("rbd snapshots are read-only");
        var connection = RbdConnection.Open(spec);
        try
        {
            int r = readOnly
                ? RbdNative.OpenReadOnly(connection.IoContext, spec.Image, out nint image, spec.Snapshot)
                : RbdNative.Open(connection.IoContext, spec.Image, out image, spec.Snapshot);
            if (r < 0) throw RbdConnection.Error($"error reading header from {spec.Image}", r);
            try
            {
                return new RbdRemoteFile(spec, connection, image, readOnly);
            }
            catch
            {
                RbdNative.Close(image);
                throw;
            }
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>qemu's rbd create: a new image of <paramref name="size"/> bytes, objects of <paramref name="objectSize"/> (0: Ceph's default).</summary>
    public static void Create(string name, long size, long objectSize)
    {
        var spec = RbdSpec.ParseName(name);
        if (objectSize != 0)
        {
            if ((objectSize & (objectSize - 1)) != 0) throw new ImageFormatException("obj size needs to be power of 2");
            if (objectSize < 4096) throw new ImageFormatException("obj size too small");
        }
        using var connection = RbdConnection.Open(spec);
        RbdNative.ImageOptionsCreate(out nint options);
        try
        {
            if (objectSize != 0) RbdNative.ImageOptionsSetUInt64(options, RbdNative.OptionOrder, (ulong)System.Numerics.BitOperations.Log2((ulong)objectSize));
            int r = RbdNative.Create4(connection.IoContext, spec.Image, (ulong)size, options);
            if (r < 0) throw RbdConnection.Error("error rbd create", r);
        }
        finally
        {
            RbdNative.ImageOptionsDestroy(options);
        }
    }

    public string Name => _spec.JsonName;

    public string NameUnder(string format) => format == "rbd" ? _spec.JsonName : _spec.JsonNameUnder(format);

    public long Length => Volatile.Read(ref _length);

    public bool IsReadOnly => _readOnly;

    public long ClusterSize => _objectSize;

    public void Read(long offset, Span<byte> buffer)
    {
        _writes.Drain();
        fixed (byte* p = buffer)
        {
            int done = 0;
            while (done < buffer.Length)
            {
                long n = RbdNative.Read2(_image, (ulong)(offset + done), (nuint)(buffer.Length - done), p + done, 0);
                if (n < 0) throw new IOException(RbdNative.ErrorText((int)n));
                if (n == 0)
                {
                    buffer[done..].Clear();
                    return;
                }
                done += (int)n;
            }
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        if (_readOnly) throw new IOException("Operation not permitted");
        Invalidate();
        _writes.Write(offset, buffer);
    }

    public void Flush()
    {
        if (_readOnly) return;
        _writes.Drain();
        int r = RbdNative.Flush(_image);
        if (r < 0) throw new IOException(RbdNative.ErrorText(r));
    }

    public bool PunchHole(long offset, long length)
    {
        if (_readOnly) return false;
        Invalidate();
        _writes.Drain();
        // librbd discards whole objects and zeroes the partial ones: the range reads as zeros afterwards.
        int r = RbdNative.Discard(_image, (ulong)offset, (ulong)length);
        if (r < 0) throw new IOException(RbdNative.ErrorText(r));
        return true;
    }

    public long? NextData(long offset)
    {
        foreach (var (start, end) in Allocated())
            if (end > offset) return Math.Max(start, offset);
        return null;
    }

    public long NextHole(long offset)
    {
        foreach (var (start, end) in Allocated())
        {
            if (start > offset) return offset;
            if (end > offset) offset = end;
        }
        return Math.Min(offset, Length);
    }

    private List<(long Start, long End)> Allocated()
    {
        lock (_allocationLock)
        {
            if (_allocated != null) return _allocated;
            _writes.Drain();
            var extents = new List<(long, long)>();
            var handle = GCHandle.Alloc(extents);
            try
            {
                // Whole objects, the image with its parent, as qemu's rbd block status asks.
                int r = RbdNative.DiffIterate2(_image, null, 0, (ulong)Length, 1, 1, &OnExtent, (void*)GCHandle.ToIntPtr(handle));
                if (r < 0) throw new IOException(RbdNative.ErrorText(r));
            }
            finally
            {
                handle.Free();
            }
            extents.Sort();
            var merged = new List<(long Start, long End)>();
            foreach (var (start, end) in extents)
            {
                if (merged.Count > 0 && merged[^1].End >= start) merged[^1] = (merged[^1].Start, Math.Max(merged[^1].End, end));
                else merged.Add((start, end));
            }
            _allocated = merged;
            return merged;
        }
    }

    [UnmanagedCallersOnly]
    private static int OnExtent(ulong offset, nuint length, int exists, void* argument)
    {
        if (exists != 0)
        {
            var extents = (List<(long, long)>)GCHandle.FromIntPtr((nint)argument).Target!;
            extents.Add(((long)offset, (long)offset + (long)length));
        }
        return 0;
    }

    private void Invalidate()
    {
        lock (_allocationLock) _allocated = null;
    }

    public void Resize(long length)
    {
        if (_readOnly) throw new IOException("Operation not permitted");
        Invalidate();
        _writes.Drain();
        int r = RbdNative.Resize(_image, (ulong)length);
        if (r < 0) throw new IOException(RbdNative.ErrorText(r));
        Volatile.Write(ref _length, length);
    }

    public IReadOnlyList<SnapshotInfo> Snapshots
    {
        get
        {
            int max = 16;
            while (true)
            {
                var buffer = new RbdNative.SnapInfo[max];
                fixed (RbdNative.SnapInfo* p = buffer)
                {
                    int r = RbdNative.SnapList(_image, p, ref max);
                    if (r == -34) continue;
                    if (r < 0) throw new IOException(RbdNative.ErrorText(r));
                    var list = new List<SnapshotInfo>(r);
                    for (int i = 0; i < r; i++)
                    {
                        string name = Marshal.PtrToStringUTF8(p[i].Name) ?? "";
                        // qemu's rbd driver reports the name as the ID, the snapshot's size as VM state, no dates.
                        list.Add(new SnapshotInfo(name, name, (long)p[i].Size, 0, 0, 0, 0));
                    }
                    RbdNative.SnapListEnd(p);
                    return list;
                }
            }
        }
    }

    public void CreateSnapshot(string name, Action<string>? report)
    {
        _writes.Drain();
        int r = RbdNative.SnapCreate(_image, name);
        if (r < 0)
        {
            report?.Invoke($"failed to create snap: {RbdNative.ErrorText(r)}");
            throw new ImageFormatException($"{r} ({RbdNative.ErrorText(r)})");
        }
    }

    public void ApplySnapshot(string name)
    {
        Invalidate();
        _writes.Drain();
        int r = RbdNative.SnapRollback(_image, name);
        if (r < 0) throw new ImageFormatException($"Failed to load snapshot: {RbdNative.ErrorText(r)}");
    }

    public void DeleteSnapshot(string name)
    {
        if (Snapshots.All(s => s.Name != name)) throw new ImageFormatException("snapshot not found");
        int r = RbdNative.SnapRemove(_image, name);
        if (r < 0) throw new ImageFormatException($"{RbdNative.ErrorText(r)}");
    }

    private static void Check(int result, string message)
    {
        if (result < 0) throw RbdConnection.Error(message, result);
    }

    public void Dispose()
    {
        try
        {
            if (_image != 0) _writes.Dispose();
        }
        finally
        {
            if (_image != 0) RbdNative.Close(_image);
            _image = 0;
            _connection.Dispose();
        }
    }
}
