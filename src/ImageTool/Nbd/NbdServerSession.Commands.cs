using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace ImageTool.Nbd;

// What each transmission request does, and the replies it sends (whole messages, under the send lock, so
// replies of requests run at the same time never interleave within a message).
internal sealed partial class NbdServerSession
{
    private const int MaxExtentsPerReply = 1024;

    /// <summary>Runs one request and replies; a device failure becomes an error reply, a failed send ends the session.</summary>
    private void Serve(NbdRequest request, byte[]? payload)
    {
        if (Check(request) is { } refusal)
        {
            SendError(request.Cookie, NbdError.Inval, refusal);
            return;
        }
        try
        {
            Execute(request, payload);
        }
        catch (IOException e) when (e is not NbdConnectionException)
        {
            SendError(request.Cookie, NbdError.Io, e.Message);
        }
        catch (Exception e) when (e is ImageFormatException or ArgumentException or InvalidOperationException or NotSupportedException)
        {
            SendError(request.Cookie, NbdError.Io, e.Message);
        }
    }

    /// <summary>
    /// Why a request is refused before it is run, in qemu-nbd's words and order, or null. qemu-nbd 7.2 answers
    /// every such refusal with EINVAL, a change to a read-only export and a write past the end included.
    /// </summary>
    private string? Check(NbdRequest request)
    {
        if (request.Command == NbdCommand.Read && request.Length > NbdConstants.MaxPayload) return TooLong(request.Length);
        if (request.Command is NbdCommand.Write or NbdCommand.Trim or NbdCommand.WriteZeroes && _export.ReadOnly) return "Export is read-only";
        if (request.Command != NbdCommand.Flush && request.Offset + request.Length > (ulong)_export.Size)
            return $"operation past EOF; From: {request.Offset}, Len: {request.Length}, Size: {_export.Size}";
        var known = NbdCommandFlags.Fua | NbdCommandFlags.NoHole | NbdCommandFlags.DontFragment | NbdCommandFlags.ReqOne | NbdCommandFlags.FastZero;
        if ((request.Flags & ~known) != 0) return $"unsupported flags (got 0x{(ushort)request.Flags:x})";
        if (request.Command is not (NbdCommand.Read or NbdCommand.Write or NbdCommand.Flush or NbdCommand.Trim
            or NbdCommand.Cache or NbdCommand.WriteZeroes or NbdCommand.BlockStatus)) return $"invalid request type ({(ushort)request.Command}) received";
        if (request.Command == NbdCommand.BlockStatus && request.Length == 0) return "need non-zero length";
        if (request.Command == NbdCommand.BlockStatus && !(_structured && (_baseAllocation || _allocationDepth || _dirtyBitmaps.Count > 0)))
            return "CMD_BLOCK_STATUS not negotiated";
        return null;
    }

    /// <summary>qemu's words for a read or write over its 32 MiB limit (the space before the parenthesis is its too).</summary>
    private static string TooLong(uint length) => $"len ({length} ) is larger than max len ({NbdConstants.MaxPayload})";

    private void Execute(NbdRequest request, byte[]? payload)
    {
        var device = _export.Device;
        long offset = (long)request.Offset + _export.Offset;
        switch (request.Command)
        {
            case NbdCommand.Read:
                SendRead(request, offset);
                return;
            case NbdCommand.Write:
                device.Write(offset, payload.AsSpan(0, (int)request.Length));
                if (request.Flags.HasFlag(NbdCommandFlags.Fua)) device.Flush();
                break;
            case NbdCommand.Flush:
                device.Flush();
                break;
            case NbdCommand.Trim:
                if (_export.Discard && request.Length > 0) device.WriteZeroes(offset, request.Length, mayDeallocate: true);
                if (request.Flags.HasFlag(NbdCommandFlags.Fua)) device.Flush();
                break;
            case NbdCommand.WriteZeroes:
                if (request.Length > 0)
                    device.WriteZeroes(offset, request.Length, mayDeallocate: _export.Discard && !request.Flags.HasFlag(NbdCommandFlags.NoHole));
                if (request.Flags.HasFlag(NbdCommandFlags.Fua)) device.Flush();
                break;
            case NbdCommand.Cache:
                // Prefetch: reading the range warms whatever caches lie below; the data is not sent.
                Prefetch(offset, request.Length);
                break;
            case NbdCommand.BlockStatus:
                SendBlockStatus(request, offset);
                return;
        }
        SendDone(request.Cookie);
    }

    private void Prefetch(long offset, uint length)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(length, 1u << 20));
        try
        {
            for (long done = 0; done < length;)
            {
                int n = (int)Math.Min(buffer.Length, length - done);
                _export.Device.Read(offset + done, buffer.AsSpan(0, n));
                done += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void SendRead(NbdRequest request, long offset)
    {
        int length = (int)request.Length;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(NbdReplyHeader.StructuredSize + 8 + length);
        try
        {
            // Read before any header goes out: a failed read can still be answered with an error.
            int headerSize = _structured ? NbdReplyHeader.StructuredSize + 8 : NbdReplyHeader.SimpleSize;
            _export.Device.Read(offset, buffer.AsSpan(headerSize, length));
            if (_structured)
            {
                NbdReplyHeader.WriteStructured(buffer, NbdChunkFlags.Done, NbdChunkType.OffsetData, request.Cookie, (uint)(8 + length));
                BinaryPrimitives.WriteUInt64BigEndian(buffer.AsSpan(NbdReplyHeader.StructuredSize), request.Offset);
            }
            else
            {
                NbdReplyHeader.WriteSimple(buffer, 0, request.Cookie);
            }
            Send(buffer.AsSpan(0, headerSize + length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void SendBlockStatus(NbdRequest request, long offset)
    {
        long end = offset + request.Length;
        bool one = request.Flags.HasFlag(NbdCommandFlags.ReqOne);
        // Each context tells the run of one state that starts at an offset: its length (within the limit) and value.
        var contexts = new List<(uint Id, Func<long, long, (long Length, uint Value)> Extent)>();
        if (_baseAllocation)
        {
            contexts.Add((AllocationContextId, (at, limit) =>
            {
                var status = Status(at, limit);
                return (status.Length, AllocationFlags(status));
            }
            ));
        }
        if (_allocationDepth)
        {
            contexts.Add((DepthContextId, (at, limit) =>
            {
                var status = Status(at, limit);
                return (status.Length, status.IsAllocated ? (uint)status.Depth + 1 : 0);
            }
            ));
        }
        foreach (int i in _dirtyBitmaps)
        {
            var bitmap = _export.DirtyBitmaps[i].Contents;
            contexts.Add((FirstBitmapContextId + (uint)i, (at, limit) => (bitmap.Run(at, limit), bitmap.IsDirty(at) ? NbdMetaContexts.StateDirty : 0)));
        }
        for (int c = 0; c < contexts.Count; c++)
        {
            var extents = new List<(uint Length, uint Flags)>();
            for (long at = offset; at < end && extents.Count < MaxExtentsPerReply;)
            {
                var (runLength, value) = contexts[c].Extent(at, end - at);
                uint length = (uint)Math.Min(runLength, uint.MaxValue);
                if (extents.Count > 0 && extents[^1].Flags == value && extents[^1].Length + (ulong)length <= uint.MaxValue)
                    extents[^1] = (extents[^1].Length + length, value);
                else if (one && extents.Count == 1)
                    break; // REQ_ONE: one descriptor, as long as the state lasts
                else
                    extents.Add((length, value));
                at += length;
            }
            var data = new byte[4 + extents.Count * 8];
            BinaryPrimitives.WriteUInt32BigEndian(data, contexts[c].Id);
            for (int i = 0; i < extents.Count; i++)
            {
                BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(4 + i * 8), extents[i].Length);
                BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(8 + i * 8), extents[i].Flags);
            }
            SendChunk(request.Cookie, c == contexts.Count - 1 ? NbdChunkFlags.Done : NbdChunkFlags.None, NbdChunkType.BlockStatus, data);
        }
    }

    private BlockStatus Status(long offset, long length) => _export.Device is IImage image
        ? BackingChain.GetStatus(image, offset, length)
        : _export.Device.GetBlockStatus(offset, length);

    /// <summary>base:allocation as qemu-nbd derives it: HOLE where no data is stored in the chain, ZERO where reads give zeros.</summary>
    private static uint AllocationFlags(BlockStatus status)
    {
        uint flags = 0;
        if (!status.IsData) flags |= NbdMetaContexts.StateHole;
        if (status.IsZero || !status.IsAllocated) flags |= NbdMetaContexts.StateZero;
        return flags;
    }

    private void SendDone(ulong cookie)
    {
        Span<byte> reply = stackalloc byte[NbdReplyHeader.SimpleSize];
        NbdReplyHeader.WriteSimple(reply, 0, cookie);
        Send(reply);
    }

    private void SendError(ulong cookie, uint error, string message)
    {
        if (!_structured)
        {
            Span<byte> reply = stackalloc byte[NbdReplyHeader.SimpleSize];
            NbdReplyHeader.WriteSimple(reply, error, cookie);
            Send(reply);
            return;
        }
        byte[] text = Encoding.UTF8.GetBytes(message.Length > NbdConstants.MaxString ? message[..NbdConstants.MaxString] : message);
        var data = new byte[6 + text.Length];
        BinaryPrimitives.WriteUInt32BigEndian(data, error);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(4), (ushort)text.Length);
        text.CopyTo(data, 6);
        SendChunk(cookie, NbdChunkFlags.Done, NbdChunkType.Error, data);
    }

    private void SendChunk(ulong cookie, NbdChunkFlags flags, NbdChunkType type, ReadOnlySpan<byte> data)
    {
        Span<byte> header = stackalloc byte[NbdReplyHeader.StructuredSize];
        NbdReplyHeader.WriteStructured(header, flags, type, cookie, (uint)data.Length);
        Send(header, data);
    }

    /// <summary>Sends one whole message; another request's reply may come before or after it, never inside.</summary>
    private void Send(ReadOnlySpan<byte> message, ReadOnlySpan<byte> more = default)
    {
        lock (_sendLock)
        {
            _socket.Write(message);
            if (!more.IsEmpty) _socket.Write(more);
        }
    }
}
