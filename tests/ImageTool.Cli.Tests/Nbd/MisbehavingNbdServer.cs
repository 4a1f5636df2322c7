using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ImageTool.Cli.Tests.Nbd;

/// <summary>
/// An NBD server on loopback, written out byte by byte here, that negotiates like a fixed-newstyle server
/// (structured replies, base:allocation, OPT_GO) for an export of <see cref="Size"/> bytes holding
/// <see cref="Content"/>, and then misbehaves the way <see cref="Mode"/> says, for the bad-server tests of
/// img's NBD client.
/// </summary>
public sealed class MisbehavingNbdServer : IDisposable
{
    public enum Mode
    {
        /// <summary>Answers the handshake, then never answers a request.</summary>
        Stall,

        /// <summary>Replies to a read with a cookie the client never sent.</summary>
        WrongCookie,

        /// <summary>Replies to a read with an OFFSET_DATA chunk claiming almost 4 GiB of payload.</summary>
        HugeReadChunk,

        /// <summary>Replies to a block status request with a BLOCK_STATUS chunk claiming almost 4 GiB of payload.</summary>
        HugeStatusChunk,

        /// <summary>Replies to a read with its data chunks last piece first (legal: chunks may come in any order).</summary>
        ChunksOutOfOrder,

        /// <summary>Sends half of a read's data, then closes the connection.</summary>
        CloseMidReply,

        /// <summary>Acknowledges NBD_OPT_STRUCTURED_REPLY as if it were another option (NBD_OPT_GO).</summary>
        WrongOptionReply,
    }

    public const int Size = 1 << 20;

    private const ulong InitMagic = 0x4e42444d41474943, OptionMagic = 0x49484156454F5054, OptionReplyMagic = 0x3e889045565a9;
    private const uint StructuredReplyMagic = 0x668e33ef;
    private const uint OptGo = 7, OptStructuredReply = 8, OptSetMetaContext = 10, OptAbort = 2;
    private const uint RepAck = 1, RepInfo = 3, RepMetaContext = 4, RepErrUnsup = 0x80000001;
    private const ushort CmdRead = 0, CmdDisconnect = 2, CmdBlockStatus = 7;
    private const ushort ChunkNone = 0, ChunkOffsetData = 1, ChunkBlockStatus = 5, ChunkDone = 1;
    private const uint ContextId = 1;

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Mode _mode;
    private readonly CancellationTokenSource _stop = new();

    public MisbehavingNbdServer(Mode mode)
    {
        _mode = mode;
        _listener.Start();
        new Thread(AcceptLoop) { IsBackground = true }.Start();
    }

    public string Url => $"nbd://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>The export's bytes: a pattern that differs in every 512-byte sector, so misplaced data shows.</summary>
    public static byte[] Content { get; } = Enumerable.Range(0, Size).Select(i => (byte)(i / 512 * 7 + i % 512 / 64 + 1)).ToArray();

    private void AcceptLoop()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var socket = _listener.AcceptSocket();
                new Thread(() => Serve(socket)) { IsBackground = true }.Start();
            }
        }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    private void Serve(Socket socket)
    {
        using var _ = socket;
        try
        {
            using var stream = new NetworkStream(socket);
            if (Negotiate(stream)) Transmit(stream);
        }
        catch (IOException) { }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    /// <summary>The handshake up to OPT_GO's ACK; false when the client left or this mode ends it early.</summary>
    private bool Negotiate(NetworkStream stream)
    {
        var greeting = new byte[18];
        BinaryPrimitives.WriteUInt64BigEndian(greeting, InitMagic);
        BinaryPrimitives.WriteUInt64BigEndian(greeting.AsSpan(8), OptionMagic);
        BinaryPrimitives.WriteUInt16BigEndian(greeting.AsSpan(16), 3); // FIXED_NEWSTYLE | NO_ZEROES
        stream.Write(greeting);
        Receive(stream, 4); // the client's flags
        while (true)
        {
            byte[] header = Receive(stream, 16);
            uint option = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8));
            byte[] data = Receive(stream, (int)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12)));
            switch (option)
            {
                case OptStructuredReply:
                    OptionReply(stream, _mode == Mode.WrongOptionReply ? OptGo : option, RepAck, []);
                    break;
                case OptSetMetaContext when Encoding.ASCII.GetString(data).Contains("base:allocation", StringComparison.Ordinal):
                    var context = new byte[4 + "base:allocation".Length];
                    BinaryPrimitives.WriteUInt32BigEndian(context, ContextId);
                    Encoding.ASCII.GetBytes("base:allocation").CopyTo(context, 4);
                    OptionReply(stream, option, RepMetaContext, context);
                    OptionReply(stream, option, RepAck, []);
                    break;
                case OptGo:
                    var info = new byte[12]; // NBD_INFO_EXPORT: size and flags (HAS_FLAGS | READ_ONLY)
                    BinaryPrimitives.WriteUInt64BigEndian(info.AsSpan(2), Size);
                    BinaryPrimitives.WriteUInt16BigEndian(info.AsSpan(10), 3);
                    OptionReply(stream, option, RepInfo, info);
                    OptionReply(stream, option, RepAck, []);
                    return true;
                case OptAbort:
                    OptionReply(stream, option, RepAck, []);
                    return false;
                default:
                    OptionReply(stream, option, RepErrUnsup, []);
                    break;
            }
        }
    }

    private void Transmit(NetworkStream stream)
    {
        while (true)
        {
            byte[] request = Receive(stream, 28);
            ushort command = BinaryPrimitives.ReadUInt16BigEndian(request.AsSpan(6));
            ulong cookie = BinaryPrimitives.ReadUInt64BigEndian(request.AsSpan(8));
            long offset = (long)BinaryPrimitives.ReadUInt64BigEndian(request.AsSpan(16));
            int length = (int)BinaryPrimitives.ReadUInt32BigEndian(request.AsSpan(24));
            if (command == CmdDisconnect) return;
            if (_mode == Mode.Stall)
            {
                _stop.Token.WaitHandle.WaitOne(TimeSpan.FromMinutes(5));
                return;
            }
            if (command == CmdBlockStatus)
            {
                if (_mode == Mode.HugeStatusChunk)
                {
                    Chunk(stream, ChunkDone, ChunkBlockStatus, cookie, 0xFFFFFFF0, [0, 0, 0, 1]);
                    _stop.Token.WaitHandle.WaitOne(TimeSpan.FromMinutes(5));
                    return;
                }
                var extent = new byte[12]; // one data extent over the whole request
                BinaryPrimitives.WriteUInt32BigEndian(extent, ContextId);
                BinaryPrimitives.WriteUInt32BigEndian(extent.AsSpan(4), (uint)Math.Min(length, Size - offset));
                Chunk(stream, ChunkDone, ChunkBlockStatus, cookie, 12, extent);
            }
            else if (command == CmdRead)
            {
                if (!Read(stream, cookie, offset, length)) return;
            }
            else
            {
                Chunk(stream, ChunkDone, ChunkNone, cookie, 0, []);
            }
        }
    }

    /// <summary>Answers a read as the mode says; false when the connection is to end.</summary>
    private bool Read(NetworkStream stream, ulong cookie, long offset, int length)
    {
        var data = Content.AsSpan((int)offset, length);
        switch (_mode)
        {
            case Mode.WrongCookie:
                DataChunk(stream, ChunkDone, cookie + 1000, offset, data);
                return true;
            case Mode.HugeReadChunk:
                var start = new byte[8];
                BinaryPrimitives.WriteUInt64BigEndian(start, (ulong)offset);
                Chunk(stream, ChunkDone, ChunkOffsetData, cookie, 0xFFFFFFF0, start);
                _stop.Token.WaitHandle.WaitOne(TimeSpan.FromMinutes(5));
                return false;
            case Mode.CloseMidReply:
                DataChunk(stream, ChunkDone, cookie, offset, data, sendOnly: length / 2);
                return false;
            case Mode.ChunksOutOfOrder:
                // Four pieces, the last first; NONE with DONE ends the reply.
                int piece = (length + 3) / 4;
                for (int at = (length - 1) / piece * piece; at >= 0; at -= piece)
                {
                    int n = Math.Min(piece, length - at);
                    DataChunk(stream, 0, cookie, offset + at, data.Slice(at, n));
                }
                Chunk(stream, ChunkDone, ChunkNone, cookie, 0, []);
                return true;
            default:
                DataChunk(stream, ChunkDone, cookie, offset, data);
                return true;
        }
    }

    private static void DataChunk(NetworkStream stream, ushort flags, ulong cookie, long offset, ReadOnlySpan<byte> data, int? sendOnly = null)
    {
        var payload = new byte[8 + data.Length];
        BinaryPrimitives.WriteUInt64BigEndian(payload, (ulong)offset);
        data.CopyTo(payload.AsSpan(8));
        Chunk(stream, flags, ChunkOffsetData, cookie, (uint)payload.Length, payload.AsSpan(0, 8 + (sendOnly ?? data.Length)));
    }

    /// <summary>A structured reply chunk header claiming <paramref name="length"/> bytes, then <paramref name="payload"/>.</summary>
    private static void Chunk(NetworkStream stream, ushort flags, ushort type, ulong cookie, uint length, ReadOnlySpan<byte> payload)
    {
        var header = new byte[20];
        BinaryPrimitives.WriteUInt32BigEndian(header, StructuredReplyMagic);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), type);
        BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(8), cookie);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(16), length);
        stream.Write(header);
        stream.Write(payload);
    }

    private static void OptionReply(NetworkStream stream, uint option, uint type, ReadOnlySpan<byte> data)
    {
        var header = new byte[20];
        BinaryPrimitives.WriteUInt64BigEndian(header, OptionReplyMagic);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), option);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(12), type);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(16), (uint)data.Length);
        stream.Write(header);
        stream.Write(data);
    }

    private static byte[] Receive(NetworkStream stream, int count)
    {
        var buffer = new byte[count];
        stream.ReadExactly(buffer);
        return buffer;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _listener.Dispose();
        _stop.Dispose();
    }
}
