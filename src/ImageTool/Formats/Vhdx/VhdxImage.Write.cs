using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace ImageTool.Formats.Vhdx;

/// <summary>
/// Writes. A block is allocated at the end of the file (MiB-aligned, the file extended by a whole block, so
/// the rest of the block reads as zeros), its data written, then its BAT entry. Before the first change of a
/// session both headers get a new FileWriteGuid and DataWriteGuid, as the spec asks and qemu does.
/// BAT updates are written in place, not through the log.
/// </summary>
internal sealed partial class VhdxImage
{
    private const int ZeroChunk = 1 << 20;

    public void Write(long offset, ReadOnlySpan<byte> buffer)
    {
        BlockDeviceChecks.CheckWrite(this, offset, buffer.Length);
        lock (_writeLock)
        {
            BeginSession();
            while (buffer.Length > 0)
            {
                long block = offset / _blockSize;
                int inBlock = (int)(offset % _blockSize);
                int n = Math.Min(buffer.Length, _blockSize - inBlock);
                ulong entry = Entry(block);
                if (VhdxBatEntry.State(entry) == VhdxBatEntry.PartiallyPresent) throw new IOException("Operation not supported");
                if (VhdxBatEntry.State(entry) == VhdxBatEntry.FullyPresent)
                {
                    _file.Write(VhdxBatEntry.FileOffset(entry) + inBlock, buffer[..n]);
                }
                else
                {
                    long at = (_file.Length + MiB - 1) / MiB * MiB;
                    _file.SetLength(at + _blockSize);
                    _file.Write(at + inBlock, buffer[..n]);
                    SetEntry(block, VhdxBatEntry.Make(at, VhdxBatEntry.FullyPresent));
                }
                buffer = buffer[n..];
                offset += n;
            }
        }
    }

    private void SetEntry(long block, ulong entry)
    {
        long index = VhdxBatEntry.PayloadIndex(block, _chunkRatio);
        _bat[index] = entry;
        Span<byte> le = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(le, entry);
        _file.Write(_batOffset + index * 8, le);
    }

    /// <summary>
    /// VHDX has no zero write: stored blocks get zeros written (or a hole punched, which reads as zeros);
    /// blocks that are not stored already read as zeros.
    /// </summary>
    public void WriteZeroes(long offset, long length, bool mayDeallocate)
    {
        BlockDeviceChecks.CheckWrite(this, offset, length);
        var zeros = ArrayPool<byte>.Shared.Rent(ZeroChunk);
        try
        {
            Array.Clear(zeros, 0, ZeroChunk);
            long end = offset + length;
            while (offset < end)
            {
                long blockEnd = Math.Min(end, (offset / _blockSize + 1) * _blockSize);
                int n = (int)Math.Min(ZeroChunk, blockEnd - offset);
                if (VhdxBatEntry.State(Entry(offset / _blockSize)) is VhdxBatEntry.FullyPresent or VhdxBatEntry.PartiallyPresent)
                    Write(offset, zeros.AsSpan(0, n));
                offset += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(zeros);
        }
    }

    private void BeginSession()
    {
        if (_headersUpdated) return;
        UpdateHeaders(newDataGuid: true, logGuid: _headers[_current].LogGuid);
    }

    /// <summary>qemu's vhdx_update_headers: the non-current header twice, so both end up current and valid.</summary>
    private void UpdateHeaders(bool newDataGuid, Guid logGuid)
    {
        var session = NewGuid();
        var data = newDataGuid ? NewGuid() : _headers[_current].DataWriteGuid;
        var bytes = new byte[VhdxHeader.Size];
        for (int round = 0; round < 2; round++)
        {
            int target = 1 - _current;
            var header = _headers[_current] with
            {
                SequenceNumber = _headers[_current].SequenceNumber + 1,
                FileWriteGuid = session,
                DataWriteGuid = data,
                LogGuid = logGuid,
            };
            // Bytes past the header fields are kept as they are in the file (qemu reads the old block first).
            long at = target == 0 ? VhdxHeader.Offset1 : VhdxHeader.Offset2;
            _file.Read(at, bytes);
            var fresh = new byte[VhdxHeader.Size];
            header.Write(fresh);
            fresh.AsSpan(0, 80).CopyTo(bytes);
            VhdxCrc32C.Seal(bytes, 4);
            _file.Write(at, bytes);
            _file.Flush();
            _headers[target] = header;
            _current = target;
        }
        _headersUpdated = true;
    }

    internal static Guid NewGuid() => new(RandomNumberGenerator.GetBytes(16));
}
