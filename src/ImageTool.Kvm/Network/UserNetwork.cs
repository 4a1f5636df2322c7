using System.Buffers.Binary;
using System.Net;

namespace ImageTool.Kvm.Network;

/// <summary>
/// qemu's <c>-net user</c> rewritten (facts from NETWORK.md §1, no slirp code): a virtual 10.0.2.0/24 with the
/// gateway/host at 10.0.2.2 and DNS at 10.0.2.3 that answers ARP, DHCP and pings itself, and NATs the guest's
/// TCP and UDP to host sockets (10.0.2.2 = the host's loopback). Frames from the guest go in through
/// <see cref="Send"/> (any thread); frames for the guest queue up until the NIC takes them with
/// <see cref="TryTake"/>, and <see cref="FrameReady"/> says when there are some. Never called under the
/// network's own lock, so a NIC may take its own lock in it.
/// </summary>
internal sealed class UserNetwork : IDisposable
{
    public static readonly uint Network = Packet.Ip(10, 0, 2, 0);
    public static readonly uint Gateway = Packet.Ip(10, 0, 2, 2);
    public static readonly uint Dns = Packet.Ip(10, 0, 2, 3);
    public static readonly uint FirstLease = Packet.Ip(10, 0, 2, 15);
    public static readonly uint SmbAddress = Packet.Ip(10, 0, 2, 4);
    public static readonly byte[] GatewayMac = Packet.VirtualMac(Gateway);

    private readonly Lock _lock = new();
    private readonly Queue<byte[]> _toGuest = new();
    private readonly DhcpServer _dhcp;
    private readonly UdpNat _udp;
    private readonly TcpNat _tcp;
    private readonly Timer _timer;
    private ushort _ipId;
    private bool _disposed;

    public UserNetwork(UserNetOptions options)
    {
        Options = options;
        _dhcp = new DhcpServer(this);
        _udp = new UdpNat(this);
        _tcp = new TcpNat(this);
        try
        {
            if (options.SmbDirectory != null) Smb = SmbServer.Start(options.SmbDirectory);
            foreach (var forward in options.HostForwards)
            {
                if (forward.Udp) _udp.Forward(forward);
                else _tcp.Forward(forward);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
        _timer = new Timer(_ => Tick(), null, 100, 100);
    }

    public UserNetOptions Options { get; }

    /// <summary>The smbd behind 10.0.2.4 with <c>smb=DIR</c>, else null.</summary>
    internal SmbServer? Smb { get; }

    /// <summary>The guest's MAC once it has sent anything; broadcast before.</summary>
    internal byte[] GuestMac { get; private set; } = Packet.Broadcast;

    internal Lock SyncRoot => _lock;

    /// <summary>Raised (outside the network's lock) when frames for the guest are waiting.</summary>
    public event Action? FrameReady;

    /// <summary>How many frames wait for the guest.</summary>
    public int Pending
    {
        get
        {
            lock (_lock) return _toGuest.Count;
        }
    }

    /// <summary>The frames waiting for the guest; call under the lock.</summary>
    internal int PendingUnlocked => _toGuest.Count;

    /// <summary>The host ports of the TCP forward rules, in order (a rule with port 0 gets one picked).</summary>
    public IReadOnlyList<int> TcpForwardPorts => _tcp.ForwardPorts;

    /// <summary>One Ethernet frame from the guest (without FCS).</summary>
    public void Send(ReadOnlySpan<byte> frame)
    {
        lock (_lock)
        {
            if (!_disposed && frame.Length >= Packet.EthHeader) Input(frame);
        }
        Notify();
    }

    /// <summary>Takes the next frame for the guest, if any.</summary>
    public bool TryTake(out byte[] frame)
    {
        lock (_lock)
        {
            bool any = _toGuest.TryDequeue(out frame!);
            if (any) _tcp.QueueDrained(_toGuest.Count);
            return any;
        }
    }

    /// <summary>Drops every connection and socket, as a guest reset does (forward listeners stay).</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _toGuest.Clear();
            _tcp.CloseAll();
            _udp.CloseAll();
            GuestMac = Packet.Broadcast;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            _toGuest.Clear();
        }
        _timer?.Dispose();
        _tcp.Dispose();
        _udp.Dispose();
        Smb?.Dispose();
    }

    /// <summary>Queues a frame for the guest; call under the lock, then <see cref="Notify"/> outside it.</summary>
    internal void Emit(byte[] frame)
    {
        if (!_disposed) _toGuest.Enqueue(frame);
    }

    /// <summary>
    /// Raises <see cref="FrameReady"/> when frames wait. A NIC's handler takes the NIC's lock and then this one
    /// (<see cref="TryTake"/>), so raising it under this lock could deadlock with a NIC delivering on another
    /// thread; a caller that still holds the lock (re-entered below Send or Tick) leaves it to that outer call,
    /// which notifies once it has let go.
    /// </summary>
    internal void Notify()
    {
        if (_lock.IsHeldByCurrentThread) return;
        if (Pending > 0) FrameReady?.Invoke();
    }

    internal ushort NextIpId() => _ipId++;

    /// <summary>Builds an IPv4 frame to the guest from one of the virtual hosts (or the NAT'ed outside world).</summary>
    internal byte[] ToGuest(uint source, uint destination, byte protocol, int payload, byte ttl, out Span<byte> body)
    {
        byte[] mac = source == Dns || source == SmbAddress ? Packet.VirtualMac(source) : GatewayMac;
        return Packet.Ipv4(GuestMac, mac, source, destination, protocol, payload, ttl, NextIpId(), out body);
    }

    /// <summary>Where a guest destination lives on the host: the gateway is the host's loopback.</summary>
    internal static IPAddress HostAddress(uint destination) =>
        destination == Gateway ? IPAddress.Loopback : new IPAddress(BinaryPrimitives.ReverseEndianness(destination));

    /// <summary>True for addresses inside 10.0.2.0/24 other than the gateway: nothing on the host answers for them.</summary>
    internal static bool IsVirtualLocal(uint address) => (address & 0xFFFFFF00) == Network && address != Gateway;

    private void Tick()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _tcp.Tick();
            _udp.Tick();
        }
        Notify();
    }

    private void Input(ReadOnlySpan<byte> frame)
    {
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(frame[12..]);
        var source = frame.Slice(6, 6);
        if ((source[0] & 1) == 0) GuestMac = source.ToArray();
        var body = frame[Packet.EthHeader..];
        if (type == Packet.TypeArp) Arp(body);
        else if (type == Packet.TypeIp) Ipv4(body);
    }

    private void Arp(ReadOnlySpan<byte> arp)
    {
        // Ethernet/IPv4 request: htype 1, ptype 0x0800, hlen 6, plen 4, op 1.
        if (arp.Length < 28 || BinaryPrimitives.ReadUInt16BigEndian(arp[6..]) != 1 || arp[4] != 6 || arp[5] != 4) return;
        uint target = BinaryPrimitives.ReadUInt32BigEndian(arp[24..]);
        if (target != Gateway && target != Dns && (target != SmbAddress || Smb == null)) return;
        byte[] mac = Packet.VirtualMac(target);
        var frame = Packet.Ethernet(arp.Slice(8, 6), mac, Packet.TypeArp, 28, out var reply);
        arp[..6].CopyTo(reply);
        BinaryPrimitives.WriteUInt16BigEndian(reply[6..], 2);
        mac.CopyTo(reply[8..]);
        BinaryPrimitives.WriteUInt32BigEndian(reply[14..], target);
        arp.Slice(8, 10).CopyTo(reply[18..]);
        Emit(frame);
    }

    private void Ipv4(ReadOnlySpan<byte> ip)
    {
        if (ip.Length < Packet.IpHeader || ip[0] >> 4 != 4) return;
        int headerLength = (ip[0] & 0xF) * 4, total = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        if (headerLength < Packet.IpHeader || total < headerLength || total > ip.Length) return;
        if ((BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x3FFF) != 0) return; // fragments are not reassembled
        uint source = BinaryPrimitives.ReadUInt32BigEndian(ip[12..]), destination = BinaryPrimitives.ReadUInt32BigEndian(ip[16..]);
        var payload = ip[headerLength..total];
        switch (ip[9])
        {
            case Packet.Icmp: Icmp(source, destination, payload); break;
            case Packet.Udp:
                if (payload.Length < 8) return;
                if (BinaryPrimitives.ReadUInt16BigEndian(payload[2..]) == DhcpServer.ServerPort) _dhcp.Input(payload[8..]);
                else _udp.Input(source, destination, payload);
                break;
            case Packet.Tcp: _tcp.Input(source, destination, payload); break;
        }
    }

    // Echo requests to the virtual hosts are answered by the network itself, TTL 255 (as slirp).
    private void Icmp(uint source, uint destination, ReadOnlySpan<byte> icmp)
    {
        if (icmp.Length < 8 || icmp[0] != 8 || (destination != Gateway && destination != Dns)) return;
        var frame = ToGuest(destination, source, Packet.Icmp, icmp.Length, 255, out var reply);
        icmp.CopyTo(reply);
        reply[0] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(reply[2..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(reply[2..], Checksum.Compute(reply));
        Emit(frame);
    }
}
