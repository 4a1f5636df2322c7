using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace ImageTool.Kvm.Network;

/// <summary>
/// TCP NAT: each guest connection is terminated here (<see cref="TcpConnection"/>) and spliced to a host socket;
/// SYNs to 10.0.2.2 connect to the host's loopback, SYNs elsewhere to the real address, and a refused connect
/// (or <c>restrict=on</c>, or a virtual address) answers RST+ACK. <c>hostfwd=tcp:...</c> listens on the host and
/// opens a connection to the guest for each accept.
/// </summary>
internal sealed class TcpNat(UserNetwork network) : IDisposable
{
    private const int QueueLow = 256;
    private static readonly TimeSpan FlushTimeout = TimeSpan.FromSeconds(5);

    private readonly Dictionary<(uint Guest, ushort GuestPort, uint Remote, ushort RemotePort), TcpConnection> _connections = [];
    private readonly List<(HostForward Rule, Socket Listener)> _listeners = [];
    private ushort _nextForwardPort = 30000;

    public void Forward(HostForward rule)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(new IPEndPoint(rule.HostAddress, rule.HostPort));
            listener.Listen(16);
        }
        catch (SocketException)
        {
            listener.Dispose();
            throw new ArgumentException($"Could not set up host forwarding rule '{rule.Rule}'");
        }
        _listeners.Add((rule, listener));
        _ = AcceptLoop(rule, listener);
    }

    /// <summary>The ports the forward listeners got (port 0 rules pick one).</summary>
    public IReadOnlyList<int> ForwardPorts => _listeners.Select(l => ((IPEndPoint)l.Listener.LocalEndPoint!).Port).ToList();

    public void Input(uint source, uint destination, ReadOnlySpan<byte> segment)
    {
        if (segment.Length < 20) return;
        var tcp = new TcpHeader(segment);
        if (!tcp.Valid) return;
        var key = (source, tcp.SourcePort, destination, tcp.DestinationPort);
        if (_connections.TryGetValue(key, out var connection))
        {
            connection.Input(tcp);
            return;
        }
        if (tcp.Has(TcpHeader.Rst)) return;
        if (!tcp.Has(TcpHeader.Syn) || tcp.Has(TcpHeader.Ack))
        {
            TcpConnection.Reset(network, source, destination, tcp);
            return;
        }
        var target = Target(destination, tcp.DestinationPort);
        if (target == null)
        {
            TcpConnection.Reset(network, source, destination, tcp);
            return;
        }
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        connection = new TcpConnection(network, socket, source, tcp.SourcePort, destination, tcp.DestinationPort, () => _connections.Remove(key));
        _connections[key] = connection;
        connection.AcceptSyn(tcp, target);
    }

    // Where a guest SYN goes on the host; null answers RST. The smb service at 10.0.2.4:139/445 stays reachable
    // under restrict=on, as qemu's exec services do.
    private IPEndPoint? Target(uint destination, ushort port)
    {
        if (destination == UserNetwork.SmbAddress && network.Smb != null && port is 139 or 445) return new IPEndPoint(IPAddress.Loopback, network.Smb.Port);
        if (network.Options.Restrict || UserNetwork.IsVirtualLocal(destination) || destination >= 0xE0000000) return null;
        return new IPEndPoint(UserNetwork.HostAddress(destination), port);
    }

    public void Tick()
    {
        foreach (var connection in _connections.Values.ToList()) connection.Tick();
    }

    /// <summary>Lets senders that paused for a long guest queue go on.</summary>
    public void QueueDrained(int pending)
    {
        if (pending != QueueLow) return;
        foreach (var connection in _connections.Values.ToList()) connection.Pump();
    }

    internal static bool QueueFull(UserNetwork network) => network.PendingUnlocked > 2 * QueueLow;

    public void CloseAll()
    {
        foreach (var connection in _connections.Values.ToList()) connection.Close(sendReset: false);
        _connections.Clear();
    }

    /// <summary>
    /// Closes every connection and listener, after up to <see cref="FlushTimeout"/> for the host sockets to take
    /// what the guest sent: a guest that powers off right after its last write was already acknowledged.
    /// </summary>
    public void Dispose()
    {
        Task[] flushes;
        lock (network.SyncRoot) flushes = _connections.Values.Select(c => c.Flushed()).ToArray();
        Task.WaitAll(flushes, FlushTimeout);
        lock (network.SyncRoot)
        {
            foreach (var connection in _connections.Values.ToList()) connection.Shutdown();
            _connections.Clear();
            foreach (var (_, listener) in _listeners) listener.Dispose();
        }
    }

    private async Task AcceptLoop(HostForward rule, Socket listener)
    {
        try
        {
            while (true)
            {
                var socket = await listener.AcceptAsync().ConfigureAwait(false);
                socket.NoDelay = true;
                lock (network.SyncRoot)
                {
                    uint guest = BinaryPrimitives.ReadUInt32BigEndian(rule.GuestAddress.GetAddressBytes());
                    ushort port = _nextForwardPort++;
                    if (_nextForwardPort == 0) _nextForwardPort = 30000;
                    var key = (guest, (ushort)rule.GuestPort, UserNetwork.Gateway, port);
                    if (_connections.Remove(key, out var stale)) stale.Close(sendReset: true);
                    var connection = new TcpConnection(network, socket, guest, (ushort)rule.GuestPort, UserNetwork.Gateway, port, () => _connections.Remove(key));
                    _connections[key] = connection;
                    connection.Open();
                }
                network.Notify();
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }
}
