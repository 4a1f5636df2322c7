using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace ImageTool.Nbd;

/// <summary>
/// An NBD client connection in the transmission phase: one request in flight at a time (callers from many
/// threads take turns), structured replies when the server offers them, requests split and aligned to the
/// server's block-size constraints. A server that breaks the protocol or stops answering makes the connection
/// unusable and every later request fails with the first reason.
/// </summary>
internal sealed partial class NbdClient : IDisposable
{
    private readonly NbdSocket _socket;
    private readonly Lock _lock = new();
    private ulong _nextCookie = 1;
    private uint? _statusContext;
    private Exception? _broken;
    private bool _disposed;

    private NbdClient(NbdSocket socket) => _socket = socket;

    public long Size { get; private set; }
    public NbdTransmissionFlags Flags { get; private set; }
    public bool Structured { get; private set; }
    public uint MinBlock { get; private set; } = 1;
    public uint PreferredBlock { get; private set; } = 4096;
    public uint MaxBlock { get; private set; } = NbdConstants.MaxPayload;

    public bool IsReadOnly => Flags.HasFlag(NbdTransmissionFlags.ReadOnly);

    /// <summary>The largest payload per request: the server's maximum, at most qemu's 32 MiB, a multiple of the minimum.</summary>
    private int MaxChunk => (int)(Math.Min(MaxBlock, (uint)NbdConstants.MaxPayload) / MinBlock * MinBlock);

    public void Read(long offset, Span<byte> buffer)
    {
        CheckRange(offset, buffer.Length);
        lock (_lock)
        {
            ReadAligned(offset, buffer);
        }
    }

    private void ReadAligned(long offset, Span<byte> buffer)
    {
        long start = AlignDown(offset), end = AlignUp(offset + buffer.Length);
        if (start == offset && end == offset + buffer.Length)
        {
            for (int done = 0; done < buffer.Length;)
            {
                int n = Math.Min(MaxChunk, buffer.Length - done);
                Transact(NbdCommand.Read, NbdCommandFlags.None, offset + done, (uint)n, buffer.Slice(done, n), default);
                done += n;
            }
            return;
        }
        // Unaligned to the server's minimum block: read the covering blocks and copy out.
        byte[] bounce = ArrayPool<byte>.Shared.Rent((int)(end - start));
        try
        {
            ReadAligned(start, bounce.AsSpan(0, (int)(end - start)));
            bounce.AsSpan((int)(offset - start), buffer.Length).CopyTo(buffer);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bounce);
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> data, bool fua = false)
    {
        CheckRange(offset, data.Length);
        var flags = fua && Flags.HasFlag(NbdTransmissionFlags.SendFua) ? NbdCommandFlags.Fua : NbdCommandFlags.None;
        lock (_lock)
        {
            long start = AlignDown(offset), end = AlignUp(offset + data.Length);
            if (start != offset || end != offset + data.Length)
            {
                // Read-modify-write of the covering blocks (qemu's block layer does the same for unaligned requests).
                byte[] bounce = ArrayPool<byte>.Shared.Rent((int)(end - start));
                try
                {
                    var span = bounce.AsSpan(0, (int)(end - start));
                    ReadAligned(start, span);
                    data.CopyTo(span[(int)(offset - start)..]);
                    WriteAligned(start, span, flags);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(bounce);
                }
                return;
            }
            WriteAligned(offset, data, flags);
        }
    }

    private void WriteAligned(long offset, ReadOnlySpan<byte> data, NbdCommandFlags flags)
    {
        for (int done = 0; done < data.Length;)
        {
            int n = Math.Min(MaxChunk, data.Length - done);
            Transact(NbdCommand.Write, flags, offset + done, (uint)n, default, data.Slice(done, n));
            done += n;
        }
    }

    public void Flush()
    {
        if (!Flags.HasFlag(NbdTransmissionFlags.SendFlush)) return;
        lock (_lock) Transact(NbdCommand.Flush, NbdCommandFlags.None, 0, 0, default, default);
    }

    /// <summary>Discards a range; false when the server does not take NBD_CMD_TRIM.</summary>
    public bool Trim(long offset, long length)
    {
        if (!Flags.HasFlag(NbdTransmissionFlags.SendTrim)) return false;
        (offset, length) = Shrink(offset, length);
        lock (_lock) ForEachPiece(offset, length, (at, n) => Transact(NbdCommand.Trim, NbdCommandFlags.None, at, n, default, default));
        return true;
    }

    /// <summary>Makes a range read as zeros; false when the server does not take NBD_CMD_WRITE_ZEROES.</summary>
    public bool WriteZeroes(long offset, long length, bool mayDeallocate)
    {
        if (!Flags.HasFlag(NbdTransmissionFlags.SendWriteZeroes)) return false;
        CheckRange(offset, length);
        if (AlignDown(offset) != offset || AlignUp(offset + length) != offset + length) return false;
        var flags = mayDeallocate ? NbdCommandFlags.None : NbdCommandFlags.NoHole;
        lock (_lock) ForEachPiece(offset, length, (at, n) => Transact(NbdCommand.WriteZeroes, flags, at, n, default, default));
        return true;
    }

    /// <summary>Asks the server to prefetch a range (NBD_CMD_CACHE); nothing when it does not offer it.</summary>
    public void Cache(long offset, long length)
    {
        if (!Flags.HasFlag(NbdTransmissionFlags.SendCache)) return;
        CheckRange(offset, length);
        lock (_lock) ForEachPiece(AlignDown(offset), AlignUp(offset + length) - AlignDown(offset),
            (at, n) => Transact(NbdCommand.Cache, NbdCommandFlags.None, at, n, default, default));
    }

    /// <summary>
    /// The status context's extent at <paramref name="offset"/> (base:allocation unless the connection asked for
    /// another): its length (at most <paramref name="length"/>) and flags. Without a context every byte is data.
    /// </summary>
    public (long Length, uint Flags) BlockStatus(long offset, long length)
    {
        CheckRange(offset, length);
        if (_statusContext == null) return (length, 0);
        long start = AlignDown(offset);
        uint request = (uint)Math.Min(AlignUp(offset + length) - start, (long)(uint.MaxValue / MinBlock * MinBlock));
        (long Length, uint Flags) extent = default;
        lock (_lock) Transact(NbdCommand.BlockStatus, NbdCommandFlags.ReqOne, start, request, default, default, (len, flags) => extent = (len, flags));
        long end = Math.Min(start + extent.Length, offset + length);
        return (end - offset, extent.Flags);
    }

    private void ForEachPiece(long offset, long length, Action<long, uint> send)
    {
        long max = uint.MaxValue / MinBlock * MinBlock;
        for (long done = 0; done < length;)
        {
            long n = Math.Min(max, length - done);
            send(offset + done, (uint)n);
            done += n;
        }
    }

    private (long, long) Shrink(long offset, long length)
    {
        CheckRange(offset, length);
        long start = AlignUp(offset), end = AlignDown(offset + length);
        return end > start ? (start, end - start) : (start, 0);
    }

    private long AlignDown(long value) => value / MinBlock * MinBlock;
    private long AlignUp(long value) => Math.Min((value + MinBlock - 1) / MinBlock * MinBlock, Math.Max(Size, value));

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset + length > Size) throw new IOException("Input/output error");
    }

    /// <summary>Sends one request and reads its whole reply (simple, or every structured chunk up to DONE).</summary>
    private void Transact(NbdCommand command, NbdCommandFlags flags, long offset, uint length, Span<byte> readInto,
        ReadOnlySpan<byte> payload, Action<long, uint>? onExtent = null)
    {
        if (_broken != null) throw new NbdConnectionException(_broken.Message, _broken);
        ulong cookie = _nextCookie++;
        try
        {
            Span<byte> header = stackalloc byte[NbdRequest.Size];
            new NbdRequest(NbdConstants.RequestMagic, flags, command, cookie, (ulong)offset, length).Write(header);
            _socket.Write(header);
            if (!payload.IsEmpty) _socket.Write(payload);
            ReadReply(command, cookie, offset, readInto, onExtent);
        }
        catch (NbdConnectionException e)
        {
            _broken = e;
            _socket.Shutdown();
            throw;
        }
    }

    private void ReadReply(NbdCommand command, ulong cookie, long offset, Span<byte> readInto, Action<long, uint>? onExtent)
    {
        Span<byte> raw = stackalloc byte[NbdReplyHeader.StructuredSize];
        uint error = 0;
        string? message = null;
        long covered = 0;
        bool gotExtent = false;
        while (true)
        {
            _socket.ReadExactly(raw[..NbdReplyHeader.SimpleSize]);
            var reply = NbdReplyHeader.ReadStart(raw);
            if (reply.Magic is not (NbdConstants.SimpleReplyMagic or NbdConstants.StructuredReplyMagic))
                throw Protocol($"Invalid reply magic 0x{reply.Magic:x8}");
            if (reply.Cookie != cookie) throw Protocol($"Reply for unexpected request {reply.Cookie} (expected {cookie})");
            if (!reply.IsStructured)
            {
                if (error == 0) error = reply.Error;
                if (error == 0 && command == NbdCommand.Read)
                {
                    if (Structured) throw Protocol("Simple reply with data to a read after structured replies were negotiated");
                    _socket.ReadExactly(readInto);
                    covered = readInto.Length;
                }
                break;
            }
            if (!Structured) throw Protocol("Structured reply that was not negotiated");
            _socket.ReadExactly(raw[NbdReplyHeader.SimpleSize..]);
            reply = reply.WithLength(raw[NbdReplyHeader.SimpleSize..]);
            // No chunk this client asks for is longer than a whole read's data and its offset (qemu's limit too).
            if (reply.Length > NbdConstants.MaxPayload + 8) throw Protocol($"Reply chunk of {reply.Length} bytes is too long");
            ReadChunk(reply, command, offset, readInto, onExtent, ref error, ref message, ref covered, ref gotExtent);
            if (reply.Flags.HasFlag(NbdChunkFlags.Done)) break;
        }
        if (error != 0) throw new IOException(message is { Length: > 0 } ? $"{NbdError.Text(error)} (server: {message})" : NbdError.Text(error));
        if (command == NbdCommand.Read && covered != readInto.Length) throw Protocol("Read reply does not cover the request");
        if (command == NbdCommand.BlockStatus && !gotExtent) throw Protocol("Block status reply without an extent");
    }

    private void ReadChunk(NbdReplyHeader chunk, NbdCommand command, long offset, Span<byte> readInto, Action<long, uint>? onExtent,
        ref uint error, ref string? message, ref long covered, ref bool gotExtent)
    {
        uint length = chunk.Length;
        switch (chunk.Type)
        {
            case NbdChunkType.None:
                if (length != 0 || !chunk.Flags.HasFlag(NbdChunkFlags.Done)) throw Protocol("Invalid NONE chunk");
                return;
            case NbdChunkType.OffsetData when command == NbdCommand.Read:
                {
                    if (length < 8) throw Protocol("OFFSET_DATA chunk too short");
                    long at = (long)_socket.ReadUInt64() - offset;
                    long n = length - 8;
                    if (at < 0 || at + n > readInto.Length) throw Protocol("OFFSET_DATA chunk outside the request");
                    _socket.ReadExactly(readInto.Slice((int)at, (int)n));
                    covered += n;
                    return;
                }
            case NbdChunkType.OffsetHole when command == NbdCommand.Read:
                {
                    if (length != 12) throw Protocol("OFFSET_HOLE chunk of the wrong length");
                    long at = (long)_socket.ReadUInt64() - offset;
                    uint n = _socket.ReadUInt32();
                    if (at < 0 || at + n > readInto.Length || n == 0) throw Protocol("OFFSET_HOLE chunk outside the request");
                    readInto.Slice((int)at, (int)n).Clear();
                    covered += n;
                    return;
                }
            case NbdChunkType.BlockStatus when command == NbdCommand.BlockStatus:
                {
                    if (length < 12 || (length - 4) % 8 != 0) throw Protocol("BLOCK_STATUS chunk of the wrong length");
                    uint id = _socket.ReadUInt32();
                    uint extentLength = _socket.ReadUInt32();
                    uint flags = _socket.ReadUInt32();
                    _socket.Skip(length - 12);
                    if (id != _statusContext || gotExtent) throw Protocol("Unexpected BLOCK_STATUS chunk");
                    if (extentLength == 0) throw Protocol("Zero-length extent");
                    gotExtent = true;
                    onExtent!(extentLength, flags);
                    return;
                }
            case NbdChunkType.Error or NbdChunkType.ErrorOffset:
                {
                    if (length < 6) throw Protocol("Error chunk too short");
                    uint code = _socket.ReadUInt32();
                    ushort messageLength = _socket.ReadUInt16();
                    long tail = length - 6L - messageLength;
                    if (tail != (chunk.Type == NbdChunkType.ErrorOffset ? 8 : 0)) throw Protocol("Error chunk of the wrong length");
                    var text = new byte[messageLength];
                    _socket.ReadExactly(text);
                    _socket.Skip(tail);
                    if (code == 0) throw Protocol("Error chunk without an error");
                    if (error == 0)
                    {
                        error = code;
                        message = Encoding.UTF8.GetString(text);
                    }
                    return;
                }
            default:
                throw Protocol($"Unexpected reply chunk type {(ushort)chunk.Type}");
        }
    }

    private NbdConnectionException Protocol(string what) => new($"NBD protocol error: {what}");

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_lock)
        {
            if (_broken == null)
            {
                try
                {
                    // NBD_CMD_DISC has no reply; the server closes its end.
                    Span<byte> header = stackalloc byte[NbdRequest.Size];
                    new NbdRequest(NbdConstants.RequestMagic, NbdCommandFlags.None, NbdCommand.Disconnect, _nextCookie++, 0, 0).Write(header);
                    _socket.Write(header);
                }
                catch (IOException)
                {
                }
            }
            _socket.Dispose();
        }
    }
}
