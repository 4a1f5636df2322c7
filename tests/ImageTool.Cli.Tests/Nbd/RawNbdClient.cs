using System.Buffers.Binary;
using System.Net.Sockets;

namespace ImageTool.Cli.Tests.Nbd;

/// <summary>
/// A bare NBD client for tests that put requests on the wire themselves (several at once, in any order):
/// the fixed-newstyle handshake with NBD_OPT_EXPORT_NAME, so every reply is a simple one.
/// </summary>
public sealed class RawNbdClient : IDisposable
{
    public const ushort Read = 0, Write = 1, Disconnect = 2, Flush = 3;

    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);

    /// <summary>Connects and enters transmission; every later receive waits at most <paramref name="timeout"/>.</summary>
    public RawNbdClient(string socketPath, TimeSpan timeout)
    {
        _socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        _socket.Connect(new UnixDomainSocketEndPoint(socketPath));
        byte[] greeting = Receive(18);
        Assert.That(BinaryPrimitives.ReadUInt64BigEndian(greeting), Is.EqualTo(0x4e42444d41474943UL), "NBDMAGIC");
        var hello = new byte[4 + 16];
        BinaryPrimitives.WriteUInt32BigEndian(hello, 3); // FIXED_NEWSTYLE | NO_ZEROES
        BinaryPrimitives.WriteUInt64BigEndian(hello.AsSpan(4), 0x49484156454F5054UL); // IHAVEOPT
        BinaryPrimitives.WriteUInt32BigEndian(hello.AsSpan(12), 1); // NBD_OPT_EXPORT_NAME "", no data
        _socket.Send(hello);
        Size = (long)BinaryPrimitives.ReadUInt64BigEndian(Receive(10));
    }

    public long Size { get; }

    /// <summary>One request header (a write's payload goes after it).</summary>
    public static byte[] Request(ushort command, ulong cookie, ulong offset, uint length)
    {
        var header = new byte[28];
        BinaryPrimitives.WriteUInt32BigEndian(header, 0x25609513);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), command);
        BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(8), cookie);
        BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(16), offset);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(24), length);
        return header;
    }

    /// <summary>Sends all messages back to back, without waiting for any reply.</summary>
    public void Send(params byte[][] messages) => _socket.Send(messages.SelectMany(m => m).ToArray());

    /// <summary>The next simple reply's error and cookie (a read's data follows; see <see cref="Receive"/>).</summary>
    public (uint Error, ulong Cookie) ReadReply()
    {
        byte[] reply = Receive(16);
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(reply), Is.EqualTo(0x67446698u), "simple reply magic");
        return (BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(4)), BinaryPrimitives.ReadUInt64BigEndian(reply.AsSpan(8)));
    }

    public byte[] Receive(int count)
    {
        var buffer = new byte[count];
        for (int done = 0; done < count;)
        {
            int n = _socket.Receive(buffer, done, count - done, SocketFlags.None);
            if (n == 0) throw new EndOfStreamException("the server closed the connection");
            done += n;
        }
        return buffer;
    }

    /// <summary>True once the server has closed its end (reads see end of stream).</summary>
    public bool IsClosedByServer()
    {
        try
        {
            return _socket.Receive(new byte[1]) == 0;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
    }

    public void Dispose() => _socket.Dispose();
}
