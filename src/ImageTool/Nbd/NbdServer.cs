using System.Net;
using System.Net.Sockets;

namespace ImageTool.Nbd;

/// <summary>
/// qemu-nbd's serving loop: one listening socket (TCP or Unix), at most <c>maxClients</c> connections at once
/// (more wait to be accepted), each served on its own thread against the one shared device. Without
/// <c>persistent</c> the server ends when its last client leaves; <see cref="Stop"/> (SIGTERM) ends it at once.
/// </summary>
internal sealed class NbdServer(NbdExport export, Socket listener, int maxClients, bool persistent, Action<string>? log)
{
    /// <summary>Clients must start TLS with these credentials before anything else (qemu-nbd --tls-creds); null for none.</summary>
    public NbdServerTls? Tls { get; init; }

    /// <summary>qemu-nbd gives a client 10 seconds to finish the handshake.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly List<(Thread Thread, NbdSocket Socket)> _sessions = [];
    private readonly SemaphoreSlim _slots = new(maxClients, maxClients);
    private bool _everConnected;

    public static Socket ListenTcp(string bind, int port)
    {
        var address = IPAddress.TryParse(bind, out var ip) ? ip : Dns.GetHostAddresses(bind).First();
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(new IPEndPoint(address, port));
            socket.Listen(16);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new IOException($"Failed to bind socket: {NbdSocket.SocketErrorText(e)}", e);
        }
    }

    public static Socket ListenUnix(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            socket.Listen(16);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            string reason = e.SocketErrorCode == SocketError.AddressAlreadyInUse ? "Address already in use" : NbdSocket.SocketErrorText(e);
            throw new IOException($"Failed to bind socket to {path}: {reason}", e);
        }
    }

    /// <summary>Serves until stopped (or, unless persistent, until the last client has left); then flushes the device.</summary>
    public void Run()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                _slots.Wait(_stop.Token);
                Socket client;
                try
                {
                    client = listener.AcceptAsync(_stop.Token).AsTask().GetAwaiter().GetResult();
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    _slots.Release();
                    if (_stop.IsCancellationRequested) break;
                    throw;
                }
                Start(new NbdSocket(client) { PeerName = "NBD client" });
            }
        }
        catch (OperationCanceledException)
        {
        }
        listener.Dispose();
        List<(Thread Thread, NbdSocket Socket)> sessions;
        lock (_lock) sessions = [.. _sessions];
        foreach (var (_, socket) in sessions) socket.Shutdown();
        foreach (var (thread, _) in sessions) thread.Join();
        export.Device.Flush();
    }

    public void Stop() => _stop.Cancel();

    private void Start(NbdSocket socket)
    {
        var thread = new Thread(() => Serve(socket)) { IsBackground = true, Name = "nbd client" };
        lock (_lock)
        {
            _everConnected = true;
            _sessions.Add((thread, socket));
        }
        thread.Start();
    }

    private void Serve(NbdSocket socket)
    {
        try
        {
            new NbdServerSession(socket, export, HandshakeTimeout, Tls).Run();
        }
        catch (IOException e) when (!_stop.IsCancellationRequested)
        {
            log?.Invoke($"Disconnect client, due to: {e.Message}");
        }
        catch (IOException)
        {
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or ImageFormatException)
        {
            // A device failure outside the request handlers: this client goes, the server keeps serving the others.
            log?.Invoke($"Disconnect client, due to: {e.Message}");
        }
        finally
        {
            socket.Dispose();
            bool last;
            lock (_lock)
            {
                _sessions.RemoveAll(s => s.Socket == socket);
                last = _sessions.Count == 0 && _everConnected;
            }
            _slots.Release();
            if (last && !persistent) Stop();
        }
    }
}
