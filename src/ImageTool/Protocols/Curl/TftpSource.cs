using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ImageTool.Protocols.Curl;

/// <summary>
/// An image served over tftp (RFC 1350, with the blksize and tsize options of RFC 2347-2349), read-only for
/// sequential consumers such as convert and info. qemu 7.2 dropped its tftp driver (older qemu reached it
/// through curl). TFTP cannot read at an offset, so the one transfer is spooled into an unlinked temporary file
/// as far as reads need it; a read behind the spool is served from it, a read ahead of it waits for the transfer.
/// Every wait for the server has the driver's timeout; a lost packet is asked for again a few times.
/// </summary>
internal sealed class TftpSource : IByteSource
{
    private const ushort OpRead = 1, OpData = 3, OpAck = 4, OpError = 5, OpOack = 6;
    private const int RequestedBlockSize = 65464;
    private const int Retries = 5;

    private readonly Uri _url;
    private readonly CurlOptions _options;
    private readonly Socket _socket;
    private readonly FileStream _spool;
    private readonly Lock _lock = new();
    private readonly byte[] _packet = new byte[4 + RequestedBlockSize];
    private EndPoint _server;
    private int _blockSize = 512;
    private ushort _block;
    private long _received;
    private bool _done;
    private byte[] _lastSent = [];

    public long Length { get; private set; } = -1;

    private TftpSource(Uri url, CurlOptions options, Socket socket, EndPoint server)
    {
        _url = url;
        _options = options;
        _socket = socket;
        _server = server;
        string spool = Path.Combine(Path.GetTempPath(), $"img-tftp-{Guid.NewGuid():N}");
        _spool = new FileStream(spool, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
    }

    public static TftpSource Open(Uri url, CurlOptions options)
    {
        var clock = Stopwatch.StartNew();
        var address = Dns.GetHostAddresses(url.Host).FirstOrDefault()
            ?? throw new ImageFormatException($"CURL: Error opening file: Could not resolve host: {url.Host}");
        var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        TftpSource? source = null;
        try
        {
            socket.Bind(new IPEndPoint(address.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0));
            source = new TftpSource(url, options, socket, new IPEndPoint(address, url.Port > 0 ? url.Port : 69));
            source.Start();
            // Without tsize the size is only known at the end: the whole file is spooled now.
            if (source.Length < 0) source.ReceiveUntil(long.MaxValue);
            return source;
        }
        catch (TftpException e)
        {
            source?.Dispose();
            socket.Dispose();
            throw new ImageFormatException($"CURL: Error opening file: {e.Message}", e);
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            source?.Dispose();
            socket.Dispose();
            throw new ImageFormatException($"CURL: Error opening file: {Describe(e, clock)}", e);
        }
    }

    public int Read(long offset, Span<byte> buffer)
    {
        lock (_lock)
        {
            if (offset >= Length || buffer.Length == 0) return 0;
            int want = (int)Math.Min(buffer.Length, Length - offset);
            var clock = Stopwatch.StartNew();
            try
            {
                ReceiveUntil(offset + want);
            }
            catch (TftpException e) { throw new IOException($"Input/output error (CURL: {e.Message})", e); }
            catch (SocketException e) { throw new IOException($"Input/output error (CURL: {Describe(e, clock)})", e); }
            if (_received < offset + want) throw new IOException("Input/output error (CURL: TFTP: the transfer ended before the size the server announced)");
            return RandomAccess.Read(_spool.SafeFileHandle, buffer[..want], offset);
        }
    }

    // RRQ with the options; the answer is an OACK (options accepted), DATA block 1 (none accepted) or ERROR.
    private void Start()
    {
        var request = new List<byte>();
        request.AddRange([0, (byte)OpRead]);
        foreach (string field in new[] { Uri.UnescapeDataString(_url.AbsolutePath.TrimStart('/')), "octet", "tsize", "0", "blksize", RequestedBlockSize.ToString(CultureInfo.InvariantCulture) })
        {
            request.AddRange(Encoding.ASCII.GetBytes(field));
            request.Add(0);
        }
        Send([.. request], _server);
        int length = Receive(out var from);
        _server = from;
        ushort op = BinaryPrimitives.ReadUInt16BigEndian(_packet);
        if (op == OpOack)
        {
            ReadOptions(_packet.AsSpan(2, length - 2));
            Acknowledge(0);
            return;
        }
        if (op != OpData || BinaryPrimitives.ReadUInt16BigEndian(_packet.AsSpan(2)) != 1) throw new TftpException("TFTP: Illegal operation");
        _blockSize = 512;
        Store(length - 4);
    }

    private void ReadOptions(ReadOnlySpan<byte> options)
    {
        var fields = Encoding.ASCII.GetString(options).Split('\0');
        for (int i = 0; i + 1 < fields.Length; i += 2)
        {
            string name = fields[i].ToLowerInvariant();
            if (!long.TryParse(fields[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out long value)) continue;
            if (name == "tsize") Length = value;
            else if (name == "blksize" && value is >= 8 and <= RequestedBlockSize) _blockSize = (int)value;
        }
    }

    public void ReceiveUntil(long end)
    {
        while (!_done && _received < end)
        {
            int length = Receive(out var from);
            if (!from.Equals(_server))
            {
                // RFC 1350: a packet from another transfer ID is answered with an error and ignored.
                Send(Error(5, "Unknown transfer ID"), from);
                continue;
            }
            ushort op = BinaryPrimitives.ReadUInt16BigEndian(_packet);
            if (op != OpData) throw new TftpException("TFTP: Illegal operation");
            ushort block = BinaryPrimitives.ReadUInt16BigEndian(_packet.AsSpan(2));
            if (block != (ushort)(_block + 1))
            {
                // A repeated block (our ACK was lost): acknowledge it again.
                Send(_lastSent, _server);
                continue;
            }
            Store(length - 4);
        }
    }

    private void Store(int count)
    {
        if (count > _blockSize) throw new TftpException("TFTP: Illegal operation");
        RandomAccess.Write(_spool.SafeFileHandle, _packet.AsSpan(4, count), _received);
        _received += count;
        _block++;
        Acknowledge(_block);
        if (count < _blockSize)
        {
            _done = true;
            if (Length < 0) Length = _received;
        }
    }

    private void Acknowledge(ushort block)
    {
        var ack = new byte[4];
        BinaryPrimitives.WriteUInt16BigEndian(ack, OpAck);
        BinaryPrimitives.WriteUInt16BigEndian(ack.AsSpan(2), block);
        Send(ack, _server);
    }

    private void Send(byte[] packet, EndPoint to)
    {
        if (to.Equals(_server)) _lastSent = packet;
        _socket.SendTo(packet, to);
    }

    // Waits for a packet, sending the last one again after each timeout (the RRQ too: then from any port).
    private int Receive(out EndPoint from)
    {
        var per = TimeSpan.FromTicks(Math.Max(_options.Timeout.Ticks / Retries, TimeSpan.FromMilliseconds(200).Ticks));
        for (int attempt = 0; attempt <= Retries; attempt++)
        {
            if (_socket.Poll(per, SelectMode.SelectRead))
            {
                EndPoint sender = new IPEndPoint(_socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
                int length = _socket.ReceiveFrom(_packet, ref sender);
                if (length < 4) throw new TftpException("TFTP: Illegal operation");
                if (BinaryPrimitives.ReadUInt16BigEndian(_packet) == OpError) throw new TftpException(ErrorText(BinaryPrimitives.ReadUInt16BigEndian(_packet.AsSpan(2)), length));
                from = sender;
                return length;
            }
            if (attempt < Retries) _socket.SendTo(_lastSent, _server);
        }
        throw new TftpException($"Operation timed out after {(long)(per * (Retries + 1)).TotalMilliseconds} milliseconds");
    }

    // curl's wording of the TFTP error codes.
    private string ErrorText(ushort code, int length) => code switch
    {
        1 => "TFTP: File Not Found",
        2 => "TFTP: Access Violation",
        3 => "Disk full or allocation exceeded",
        4 => "TFTP: Illegal operation",
        5 => "TFTP: Unknown transfer ID",
        6 => "Remote file already exists",
        7 => "TFTP: No such user",
        _ => $"TFTP: {Encoding.ASCII.GetString(_packet, 4, Math.Max(0, length - 5))}",
    };

    private static byte[] Error(ushort code, string text)
    {
        var packet = new byte[4 + text.Length + 1];
        BinaryPrimitives.WriteUInt16BigEndian(packet, OpError);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), code);
        Encoding.ASCII.GetBytes(text, packet.AsSpan(4));
        return packet;
    }

    private static string Describe(Exception e, Stopwatch clock) =>
        e is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.ConnectionRefused }
            ? $"Failed to connect after {clock.ElapsedMilliseconds} ms: Connection refused"
            : e.Message;

    public void Dispose()
    {
        _socket.Dispose();
        _spool.Dispose();
    }

    private sealed class TftpException(string message) : Exception(message);
}
