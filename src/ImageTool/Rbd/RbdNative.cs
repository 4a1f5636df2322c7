using System.Runtime.InteropServices;

namespace ImageTool.Rbd;

/// <summary>
/// The librados and librbd calls the rbd protocol needs (Debian's librados2 and librbd1, loaded by soname).
/// Every int result is &gt;= 0 on success or -errno.
/// </summary>
internal static unsafe partial class RbdNative
{
    private const string Rados = "librados.so.2";
    private const string Librbd = "librbd.so.1";

    // rbd_image_options_set_uint64 option names (librbd.h).
    public const int OptionOrder = 2;

    [LibraryImport(Rados, EntryPoint = "rados_create", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Create(out nint cluster, string? id);

    [LibraryImport(Rados, EntryPoint = "rados_conf_read_file", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ConfReadFile(nint cluster, string? path);

    [LibraryImport(Rados, EntryPoint = "rados_conf_set", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ConfSet(nint cluster, string option, string value);

    [LibraryImport(Rados, EntryPoint = "rados_conf_get", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ConfGet(nint cluster, string option, byte* buffer, nuint length);

    [LibraryImport(Rados, EntryPoint = "rados_connect")]
    public static partial int Connect(nint cluster);

    [LibraryImport(Rados, EntryPoint = "rados_shutdown")]
    public static partial void Shutdown(nint cluster);

    [LibraryImport(Rados, EntryPoint = "rados_ioctx_create", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int IoctxCreate(nint cluster, string pool, out nint ioctx);

    [LibraryImport(Rados, EntryPoint = "rados_ioctx_set_namespace", StringMarshalling = StringMarshalling.Utf8)]
    public static partial void IoctxSetNamespace(nint ioctx, string? ns);

    [LibraryImport(Rados, EntryPoint = "rados_ioctx_destroy")]
    public static partial void IoctxDestroy(nint ioctx);

    [LibraryImport(Librbd, EntryPoint = "rbd_namespace_exists", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int NamespaceExists(nint ioctx, string ns, out byte exists);

    [LibraryImport(Librbd, EntryPoint = "rbd_image_options_create")]
    public static partial void ImageOptionsCreate(out nint options);

    [LibraryImport(Librbd, EntryPoint = "rbd_image_options_destroy")]
    public static partial void ImageOptionsDestroy(nint options);

    [LibraryImport(Librbd, EntryPoint = "rbd_image_options_set_uint64")]
    public static partial int ImageOptionsSetUInt64(nint options, int name, ulong value);

    [LibraryImport(Librbd, EntryPoint = "rbd_create4", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Create4(nint ioctx, string name, ulong size, nint options);

    [LibraryImport(Librbd, EntryPoint = "rbd_open", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(nint ioctx, string name, out nint image, string? snapshot);

    [LibraryImport(Librbd, EntryPoint = "rbd_open_read_only", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int OpenReadOnly(nint ioctx, string name, out nint image, string? snapshot);

    [LibraryImport(Librbd, EntryPoint = "rbd_close")]
    public static partial int Close(nint image);

    [LibraryImport(Librbd, EntryPoint = "rbd_stat")]
    public static partial int Stat(nint image, byte* info, nuint infoSize);

    [LibraryImport(Librbd, EntryPoint = "rbd_get_size")]
    public static partial int GetSize(nint image, out ulong size);

    [LibraryImport(Librbd, EntryPoint = "rbd_resize")]
    public static partial int Resize(nint image, ulong size);

    [LibraryImport(Librbd, EntryPoint = "rbd_read2")]
    public static partial nint Read2(nint image, ulong offset, nuint length, byte* buffer, int opFlags);

    [LibraryImport(Librbd, EntryPoint = "rbd_write2")]
    public static partial nint Write2(nint image, ulong offset, nuint length, byte* buffer, int opFlags);

    [LibraryImport(Librbd, EntryPoint = "rbd_aio_create_completion")]
    public static partial int AioCreateCompletion(void* argument, void* callback, out nint completion);

    [LibraryImport(Librbd, EntryPoint = "rbd_aio_write2")]
    public static partial int AioWrite2(nint image, ulong offset, nuint length, byte* buffer, nint completion, int opFlags);

    [LibraryImport(Librbd, EntryPoint = "rbd_aio_wait_for_complete")]
    public static partial int AioWaitForComplete(nint completion);

    [LibraryImport(Librbd, EntryPoint = "rbd_aio_get_return_value")]
    public static partial nint AioGetReturnValue(nint completion);

    [LibraryImport(Librbd, EntryPoint = "rbd_aio_release")]
    public static partial void AioRelease(nint completion);

    [LibraryImport(Librbd, EntryPoint = "rbd_discard")]
    public static partial int Discard(nint image, ulong offset, ulong length);

    [LibraryImport(Librbd, EntryPoint = "rbd_flush")]
    public static partial int Flush(nint image);

    [LibraryImport(Librbd, EntryPoint = "rbd_diff_iterate2")]
    public static partial int DiffIterate2(nint image, byte* fromSnapshot, ulong offset, ulong length, byte includeParent,
        byte wholeObject, delegate* unmanaged<ulong, nuint, int, void*, int> callback, void* argument);

    [LibraryImport(Librbd, EntryPoint = "rbd_snap_create", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SnapCreate(nint image, string name);

    [LibraryImport(Librbd, EntryPoint = "rbd_snap_remove", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SnapRemove(nint image, string name);

    [LibraryImport(Librbd, EntryPoint = "rbd_snap_rollback", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SnapRollback(nint image, string name);

    [LibraryImport(Librbd, EntryPoint = "rbd_snap_set", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SnapSet(nint image, string? name);

    [LibraryImport(Librbd, EntryPoint = "rbd_snap_list")]
    public static partial int SnapList(nint image, SnapInfo* snapshots, ref int maxSnapshots);

    [LibraryImport(Librbd, EntryPoint = "rbd_snap_list_end")]
    public static partial void SnapListEnd(SnapInfo* snapshots);

    /// <summary>rbd_snap_info_t.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SnapInfo
    {
        public ulong Id;
        public ulong Size;
        public nint Name;
    }

    /// <summary>The text of -errno as qemu prints it (strerror).</summary>
    public static string ErrorText(int result) => Marshal.GetPInvokeErrorMessage(-result);
}
