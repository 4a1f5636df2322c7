using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using ImageTool.Tls;

namespace ImageTool.Nbd;

/// <summary>
/// One NBD connection's byte stream, used by client and server alike: exact reads and whole writes on a
/// socket, each bounded by a timeout, so no wait on a peer lasts for ever. After NBD_OPT_STARTTLS the same calls
/// go through the TLS session (whose reads and writes the socket's timeouts still bound).
/// </summary>
internal sealed class NbdSocket : IDisposable
{
    private readonly Socket _socket;
    private Stream? _tls;

    /// <summary>Whether the connection has been upgraded to TLS.</summary>
    public bool IsTls => _tls != null;

    /// <summary>Upgrades to TLS as the client; refusals are qemu's words (ImageFormatException).</summary>
    public void StartTlsClient(X509Credentials credentials, string? hostname) =>
        _tls = Guarded(() => TlsSession.Client(new NetworkStream(_socket, ownsSocket: false), credentials, hostname));

    /// <summary>Upgrades to TLS as the server; a refused client ends in an IOException.</summary>
    public void StartTlsServer(X509Credentials credentials, SimpleAuthorization? authorization) =>
        _tls = Guarded(() => TlsSession.Server(new NetworkStream(_socket, ownsSocket: false), credentials, authorization));

    private T Guarded<T>(Func<T> handshake)
    {
        try
        {
            return handshake();
        }
        catch (IOException e) when (e is not NbdConnectionException)
        {
            throw e.InnerException is SocketException se ? Failure(se) : new NbdConnectionException($"TLS handshake failed: {e.Message}", e);
        }
    }

    public NbdSocket(Socket socket)
    {
        _socket = socket;
        if (socket.AddressFamily != AddressFamily.Unix) socket.NoDelay = true;
    }

    /// <summary>The peer's name in messages.</summary>
    public string PeerName { get; init; } = "peer";

    private TimeSpan _timeout;

    /// <summary>Bounds every receive and send; zero waits for ever.</summary>
    public TimeSpan Timeout
    {
        get => _timeout;
        set
        {
            _timeout = value;
            _socket.ReceiveTimeout = (int)value.TotalMilliseconds;
            _socket.SendTimeout = (int)value.TotalMilliseconds;
        }
    }

    /// <summary>
    /// Whether receives wait for ever (a server's idle wait for the next request) or within <see cref="Timeout"/>;
    /// sends, which other threads may make meanwhile, stay bounded.
    /// </summary>
    public bool ReceiveWaitsForever
    {
        set => _socket.ReceiveTimeout = value ? 0 : (int)_timeout.TotalMilliseconds;
    }

    /// <summary>Connects to a TCP host and port or a Unix socket; errors are worded as qemu's.</summary>
    public static NbdSocket Connect(NbdAddress address, TimeSpan timeout)
    {
        Socket socket;
        EndPoint endPoint;
        if (address.IsUnix)
        {
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            endPoint = new UnixDomainSocketEndPoint(address.SocketPath!);
        }
        else
        {
            IPAddress[] addresses;
            try
            {
                addresses = IPAddress.TryParse(address.Host, out var ip) ? [ip] : Dns.GetHostAddresses(address.Host!);
            }
            catch (SocketException e)
            {
                throw new ImageFormatException($"address resolution failed for {address.Endpoint}: Name or service not known", e);
            }
            if (addresses.Length == 0)
                throw new ImageFormatException($"address resolution failed for {address.Endpoint}: Name or service not known");
            var ipAddress = addresses[0];
            socket = new Socket(ipAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            endPoint = new IPEndPoint(ipAddress, address.Port);
        }
        // A blocking connect bounded by the send timeout (Linux applies SO_SNDTIMEO to connect). No async call may
        // touch the socket: after one, .NET makes it non-blocking for good and every receive that finds no data
        // waits on its epoll thread (a thread hand-off, spinning and futex wake-ups per read of a few KiB).
        var connection = new NbdSocket(socket) { PeerName = "NBD server", Timeout = timeout };
        try
        {
            socket.Connect(endPoint);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            string reason = e.SocketErrorCode is SocketError.InProgress or SocketError.WouldBlock or SocketError.TimedOut ? "Connection timed out"
                : address.IsUnix && e.SocketErrorCode == SocketError.AddressNotAvailable ? "No such file or directory" // ENOENT
                : SocketErrorText(e);
            throw new ImageFormatException($"Failed to connect to '{address.Endpoint}': {reason}", e);
        }
        return connection;
    }

    /// <summary>strerror's words for the errors a connect meets (the BCL's messages differ).</summary>
    public static string SocketErrorText(SocketException e) => e.SocketErrorCode switch
    {
        SocketError.ConnectionRefused => "Connection refused",
        SocketError.AccessDenied => "Permission denied",
        SocketError.TimedOut => "Connection timed out",
        SocketError.HostUnreachable => "No route to host",
        SocketError.NetworkUnreachable => "Network is unreachable",
        SocketError.ConnectionReset => "Connection reset by peer",
        _ => e.Message,
    };

    public void ReadExactly(Span<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n;
            try
            {
                n = _tls != null ? _tls.Read(buffer[done..]) : _socket.Receive(buffer[done..]);
            }
            catch (SocketException e)
            {
                throw Failure(e);
            }
            catch (IOException e) when (_tls != null && e is not NbdConnectionException)
            {
                throw TlsFailure(e);
            }
            if (n == 0) throw new NbdConnectionException($"Connection closed by the {PeerName}");
            done += n;
        }
    }

    public void Write(ReadOnlySpan<byte> buffer)
    {
        try
        {
            if (_tls != null)
            {
                _tls.Write(buffer);
                return;
            }
            while (buffer.Length > 0)
            {
                int n = _socket.Send(buffer);
                buffer = buffer[n..];
            }
        }
        catch (SocketException e)
        {
            throw Failure(e);
        }
        catch (IOException e) when (_tls != null && e is not NbdConnectionException)
        {
            throw TlsFailure(e);
        }
    }

    private NbdConnectionException TlsFailure(IOException e) => e.InnerException is SocketException se
        ? Failure(se)
        : new NbdConnectionException($"Connection to the {PeerName} failed: {e.Message}", e);

    /// <summary>Reads and drops <paramref name="count"/> bytes (an option or payload the reader does not want).</summary>
    public void Skip(long count)
    {
        Span<byte> scratch = stackalloc byte[4096];
        while (count > 0)
        {
            int n = (int)Math.Min(count, scratch.Length);
            ReadExactly(scratch[..n]);
            count -= n;
        }
    }

    public ushort ReadUInt16()
    {
        Span<byte> b = stackalloc byte[2];
        ReadExactly(b);
        return BinaryPrimitives.ReadUInt16BigEndian(b);
    }

    public uint ReadUInt32()
    {
        Span<byte> b = stackalloc byte[4];
        ReadExactly(b);
        return BinaryPrimitives.ReadUInt32BigEndian(b);
    }

    public ulong ReadUInt64()
    {
        Span<byte> b = stackalloc byte[8];
        ReadExactly(b);
        return BinaryPrimitives.ReadUInt64BigEndian(b);
    }

    private NbdConnectionException Failure(SocketException e) => e.SocketErrorCode == SocketError.TimedOut
        ? new NbdConnectionException($"The {PeerName} did not answer within {Timeout.TotalSeconds:0.###} s", e)
        : new NbdConnectionException($"Connection to the {PeerName} failed: {SocketErrorText(e)}", e);

    /// <summary>Ends the connection at once (both directions), waking a thread blocked in a receive.</summary>
    public void Shutdown()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        _tls?.Dispose();
        _socket.Dispose();
    }
}
