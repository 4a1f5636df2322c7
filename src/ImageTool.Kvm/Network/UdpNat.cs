using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace ImageTool.Kvm.Network;

/// <summary>
/// UDP through host sockets: one socket per guest flow (source port, destination), replies come back as from
/// the destination the guest used; DNS to 10.0.2.3:53 goes to the host's resolver. Flows idle for two minutes
/// are closed. <c>hostfwd=udp:...</c> binds a host socket whose datagrams reach the guest from 10.0.2.2, and
/// the guest's answers to that peer leave through the same socket.
/// </summary>
internal sealed class UdpNat(UserNetwork network) : IDisposable
{
    private const int IdleTicks = 1200; // 100 ms ticks

    private readonly Dictionary<(ushort GuestPort, uint Destination, ushort Port), Flow> _flows = [];
    private readonly List<ForwardSocket> _forwards = [];
    private IPEndPoint? _resolver;

    public void Forward(HostForward rule)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(new IPEndPoint(rule.HostAddress, rule.HostPort));
        }
        catch (SocketException)
        {
            socket.Dispose();
            throw new ArgumentException($"Could not set up host forwarding rule '{rule.Rule}'");
        }
        var forward = new ForwardSocket(rule, socket);
        _forwards.Add(forward);
        _ = ForwardLoop(forward);
    }

    public void Input(uint source, uint destination, ReadOnlySpan<byte> udp)
    {
        ushort sourcePort = BinaryPrimitives.ReadUInt16BigEndian(udp), port = BinaryPrimitives.ReadUInt16BigEndian(udp[2..]);
        int length = BinaryPrimitives.ReadUInt16BigEndian(udp[4..]);
        if (length < 8 || length > udp.Length) return;
        var data = udp[8..length];
        foreach (var forward in _forwards)
        {
            if (destination == UserNetwork.Gateway && sourcePort == forward.Rule.GuestPort && forward.Peers.TryGetValue(port, out var peer))
            {
                forward.Socket.SendTo(data, SocketFlags.None, peer);
                return;
            }
        }
        if (network.Options.Restrict) return;
        IPEndPoint target;
        if (destination == UserNetwork.Dns)
        {
            if (port != 53) return;
            target = _resolver ??= new IPEndPoint(HostResolver.Address(), 53);
        }
        else if (UserNetwork.IsVirtualLocal(destination) || destination == 0xFFFFFFFF) return;
        else target = new IPEndPoint(UserNetwork.HostAddress(destination), port);
        var key = (sourcePort, destination, port);
        if (!_flows.TryGetValue(key, out var flow))
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(IPAddress.Any, 0));
            flow = new Flow(socket, source, sourcePort, destination, port);
            _flows[key] = flow;
            _ = Task.Run(() => FlowLoop(flow)); // not inline under the network's lock
        }
        flow.Idle = 0;
        try
        {
            flow.Socket.SendTo(data, SocketFlags.None, target);
        }
        catch (SocketException)
        {
            // unreachable destinations lose the datagram, as on a real network
        }
    }

    public void Tick()
    {
        foreach (var (key, flow) in _flows.ToList())
        {
            if (++flow.Idle < IdleTicks) continue;
            flow.Socket.Dispose();
            _flows.Remove(key);
        }
    }

    public void CloseAll()
    {
        foreach (var flow in _flows.Values) flow.Socket.Dispose();
        _flows.Clear();
        foreach (var forward in _forwards) forward.Peers.Clear();
    }

    public void Dispose()
    {
        lock (network.SyncRoot)
        {
            CloseAll();
            foreach (var forward in _forwards) forward.Socket.Dispose();
        }
    }

    private async Task FlowLoop(Flow flow)
    {
        var buffer = new byte[65536];
        try
        {
            while (true)
            {
                var result = await flow.Socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0)).ConfigureAwait(false);
                lock (network.SyncRoot) Deliver(flow.Destination, flow.Port, flow.Guest, flow.GuestPort, buffer.AsSpan(0, result.ReceivedBytes));
                network.Notify();
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task ForwardLoop(ForwardSocket forward)
    {
        var buffer = new byte[65536];
        try
        {
            while (true)
            {
                var result = await forward.Socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0)).ConfigureAwait(false);
                var peer = (IPEndPoint)result.RemoteEndPoint;
                lock (network.SyncRoot)
                {
                    forward.Peers[(ushort)peer.Port] = peer;
                    uint guest = BinaryPrimitives.ReadUInt32BigEndian(forward.Rule.GuestAddress.GetAddressBytes());
                    Deliver(UserNetwork.Gateway, (ushort)peer.Port, guest, (ushort)forward.Rule.GuestPort, buffer.AsSpan(0, result.ReceivedBytes));
                }
                network.Notify();
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    // Datagrams beyond one frame are cut to the 1500-byte MTU (the network does not fragment).
    private void Deliver(uint source, ushort sourcePort, uint guest, ushort guestPort, ReadOnlySpan<byte> data)
    {
        data = data[..Math.Min(data.Length, 1500 - Packet.IpHeader - 8)];
        var frame = network.ToGuest(source, guest, Packet.Udp, 8 + data.Length, 64, out var udp);
        BinaryPrimitives.WriteUInt16BigEndian(udp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], guestPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + data.Length));
        data.CopyTo(udp[8..]);
        Packet.SealTransport(frame, 6);
        network.Emit(frame);
    }

    private sealed class Flow(Socket socket, uint guest, ushort guestPort, uint destination, ushort port)
    {
        public Socket Socket { get; } = socket;
        public uint Guest { get; } = guest;
        public ushort GuestPort { get; } = guestPort;
        public uint Destination { get; } = destination;
        public ushort Port { get; } = port;
        public int Idle { get; set; }
    }

    private sealed class ForwardSocket(HostForward rule, Socket socket)
    {
        public HostForward Rule { get; } = rule;
        public Socket Socket { get; } = socket;
        public Dictionary<ushort, IPEndPoint> Peers { get; } = [];
    }
}
