using Microsoft.Win32.SafeHandles;

namespace ImageTool.IO;

/// <summary>
/// Large reads of a block device opened read-only, through a second descriptor of the same device opened with
/// O_DIRECT. A buffered read of a block device first fills the device's own page cache (for a loop device the
/// loop worker copies the backing file's cached pages into it), and the kernel drops that cache again at the last
/// close: for a pass over the whole device, such as convert, that copy costs several times the read itself.
/// Small reads (format metadata, a guest's requests) stay on the buffered descriptor qemu opens; the two views
/// stay coherent, as a direct read writes back the cached dirty pages of its range first.
/// </summary>
internal sealed class DeviceBulkReads(SafeFileHandle device) : IDisposable
{
    // Smaller reads are metadata or a guest's requests, which the page cache and its read-ahead serve better.
    private const int MinLength = 256 << 10;

    private readonly object _gate = new();
    private SafeFileHandle? _handle;
    private DirectIO? _direct;
    private bool _unavailable;

    /// <summary>
    /// Reads a large range that lies within the device directly; false where it cannot (small, past the end, or
    /// a device that refuses O_DIRECT): the caller then reads buffered, which reports the errors.
    /// </summary>
    public bool TryRead(long offset, Span<byte> buffer, long deviceLength)
    {
        if (buffer.Length < MinLength || offset + buffer.Length > deviceLength || Volatile.Read(ref _unavailable)) return false;
        var (handle, direct) = Open();
        if (direct == null) return false;
        try
        {
            direct.Read(handle!, offset, buffer, deviceLength);
            return true;
        }
        catch (IOException)
        {
            Volatile.Write(ref _unavailable, true);
            return false;
        }
    }

    private (SafeFileHandle? Handle, DirectIO? Direct) Open()
    {
        lock (_gate)
        {
            if (_direct != null || _unavailable) return (_handle, _direct);
            try
            {
                // The descriptor's own path names the same device even where the name it was opened by was a link.
                _handle = File.OpenHandle($"/proc/self/fd/{device.DangerousGetHandle()}", FileMode.Open, FileAccess.Read,
                    FileShare.ReadWrite | FileShare.Delete);
                _direct = DirectIO.Enable((int)_handle.DangerousGetHandle(), "");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _handle?.Dispose();
                _handle = null;
                _unavailable = true;
            }
            return (_handle, _direct);
        }
    }

    public void Dispose()
    {
        lock (_gate) _handle?.Dispose();
    }
}
