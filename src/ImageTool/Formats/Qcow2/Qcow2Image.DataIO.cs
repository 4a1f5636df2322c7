using System.Buffers;
using ImageTool.Protocols.Blkdebug;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// Guest data in host clusters (the image file or its external data file), through <see cref="Qcow2Encryption"/>
/// when the image is encrypted: encrypted data is whole sectors, so partial ones are read-modify-written.
/// </summary>
internal sealed partial class Qcow2Image
{
    private const int Sector = 512;

    /// <summary>Reads guest data stored at <paramref name="host"/>, decrypting whole sectors around it when encrypted.</summary>
    private void ReadData(long host, long guest, Span<byte> buffer)
    {
        _file.DebugEvent(BlkdebugEvent.ReadAio);
        if (!_encryption.IsEnabled)
        {
            DataFile.Read(host, buffer);
            return;
        }
        int head = (int)(host & (Sector - 1));
        int total = (head + buffer.Length + Sector - 1) & ~(Sector - 1);
        if (head == 0 && total == buffer.Length)
        {
            DataFile.Read(host, buffer);
            _encryption.Decrypt(buffer, host, guest);
            return;
        }
        var tmp = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            var span = tmp.AsSpan(0, total);
            DataFile.Read(host - head, span);
            _encryption.Decrypt(span, host - head, guest - head);
            span.Slice(head, buffer.Length).CopyTo(buffer);
        }
        finally { ArrayPool<byte>.Shared.Return(tmp); }
    }

    /// <summary>Writes guest data at <paramref name="host"/>; encrypted images get whole sectors (read-modify-write at the edges).</summary>
    private void WriteData(long host, long guest, ReadOnlySpan<byte> data)
    {
        if (!HasDataFile) CheckOverlap(host, data.Length);
        _file.DebugEvent(BlkdebugEvent.WriteAio);
        if (!_encryption.IsEnabled)
        {
            DataFile.Write(host, data);
            return;
        }
        int head = (int)(host & (Sector - 1));
        int total = (head + data.Length + Sector - 1) & ~(Sector - 1);
        var tmp = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            var span = tmp.AsSpan(0, total);
            if (head != 0 || total != data.Length)
            {
                ReadData(host - head, guest - head, span[..Sector]);
                if (total > Sector) ReadData(host - head + total - Sector, guest - head + total - Sector, span[(total - Sector)..]);
            }
            data.CopyTo(span[head..]);
            _encryption.Encrypt(span, host - head, guest - head);
            DataFile.Write(host - head, span);
        }
        finally { ArrayPool<byte>.Shared.Return(tmp); }
    }
}
