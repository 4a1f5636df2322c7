using ImageTool.Capabilities;

namespace ImageTool.Formats.Qcow;

/// <summary>
/// Emptying after commit, as qemu's qcow_make_empty: the L1 table is zeroed on disk and the file is cut right after
/// it, so every L2 table and cluster goes and reads fall through to the backing file.
/// </summary>
internal sealed partial class QcowImage : IMakeEmpty
{
    public void MakeEmpty()
    {
        lock (_writeLock)
        {
            long l1Offset = (long)_header.L1TableOffset;
            long end = l1Offset + (long)_l1.Length * 8;
            // The L2 tables still to be written lie past the new end: they go with the rest.
            _dirtyL2.Clear();
            Array.Clear(_l1);
            _file.Write(l1Offset, new byte[_l1.Length * 8]);
            _file.Flush();
            _file.SetLength(end);
            lock (_cacheLock) _l2Cache.Clear();
            lock (_compressedLock) _compressedCacheEntry = 0;
            _end = end;
        }
    }
}
