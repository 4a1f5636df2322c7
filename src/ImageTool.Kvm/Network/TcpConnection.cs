using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace ImageTool.Kvm.Network;

/// <summary>
/// One guest TCP connection, terminated here and spliced to a host socket. Better than slirp where it is poor
/// (NETWORK.md §1.3): window scaling both ways, the guest's MSS honoured, a 1 MiB buffer each way. Guest data is
/// acknowledged as soon as it is buffered, and the window advertised is the buffer's free space; data from the
/// host is sent within the guest's window and kept until acknowledged, resent from the first unacknowledged byte
/// when the retransmission timer runs out (go-back-N; the virtual wire never loses frames itself).
/// All methods run under the network's lock, except the socket loops, which take it; they start on the thread
/// pool, never inline under the caller's lock (an async method runs on the caller's thread until its first
/// await that has to wait, and host data already buffered would carry a whole receive and notify with it).
/// </summary>
internal sealed class TcpConnection
{
    private const int BufferSize = 1 << 20;
    private const int OurShift = 5;      // 1 MiB >> 5 fits the 16-bit window field
    private const int OurMss = 1460;     // the 1500-byte MTU
    private const int MaxRetries = 10;

    private enum State { Connecting, SynReceived, SynSent, Established, Closed }

    private readonly UserNetwork _network;
    private readonly Socket _host;
    private readonly uint _guest, _remote;
    private readonly ushort _guestPort, _remotePort;
    private readonly Action _removed;
    private readonly ByteRing _toGuest = new(BufferSize);
    private readonly ByteRing _toHost = new(BufferSize);
    private readonly SemaphoreSlim _roomToGuest = new(0, 1), _dataToHost = new(0, 1);
    private readonly byte[] _incoming = new byte[65536];
    private TaskCompletionSource? _flushed;
    private State _state;
    private uint _iss, _sndUna, _sndNxt, _rcvNxt;
    private long _guestWindow = 65535;
    private int _guestShift, _ourShift, _mss = 536;
    private bool _hostEof, _finSent, _guestFin, _hostShutdown;
    private readonly RetransmitTimer _timer = new();
    private uint _sndMax;
    private int _retries;

    public TcpConnection(UserNetwork network, Socket host, uint guest, ushort guestPort, uint remote, ushort remotePort, Action removed)
    {
        _network = network;
        _host = host;
        _guest = guest;
        _guestPort = guestPort;
        _remote = remote;
        _remotePort = remotePort;
        _removed = removed;
        _iss = (uint)Random.Shared.Next();
    }

    /// <summary>RST for a segment that belongs to no connection (RFC 793 reset generation).</summary>
    public static void Reset(UserNetwork network, uint guest, uint remote, TcpHeader tcp)
    {
        uint length = (uint)tcp.Data.Length + (tcp.Has(TcpHeader.Syn) ? 1u : 0) + (tcp.Has(TcpHeader.Fin) ? 1u : 0);
        bool ack = tcp.Has(TcpHeader.Ack);
        var frame = network.ToGuest(remote, guest, Packet.Tcp, 20, 255, out var t);
        BinaryPrimitives.WriteUInt16BigEndian(t, tcp.DestinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(t[2..], tcp.SourcePort);
        BinaryPrimitives.WriteUInt32BigEndian(t[4..], ack ? tcp.Acknowledgment : 0);
        BinaryPrimitives.WriteUInt32BigEndian(t[8..], ack ? 0 : tcp.Sequence + length);
        t[12] = 5 << 4;
        t[13] = ack ? TcpHeader.Rst : (byte)(TcpHeader.Rst | TcpHeader.Ack);
        Packet.SealTransport(frame, 16);
        network.Emit(frame);
    }

    /// <summary>A guest SYN: connect the host socket, answer SYN-ACK once connected, RST if refused.</summary>
    public void AcceptSyn(TcpHeader syn, IPEndPoint target)
    {
        _rcvNxt = syn.Sequence + 1;
        TakeSynOptions(syn);
        _ourShift = syn.WindowShift >= 0 ? OurShift : 0;
        _guestWindow = syn.Window;
        _state = State.Connecting;
        _ = Task.Run(() => ConnectAsync(target));
    }

    /// <summary>A host-forwarded connection: send the guest a SYN.</summary>
    public void Open()
    {
        _state = State.SynSent;
        _ourShift = OurShift;
        _sndUna = _iss;
        _sndNxt = _iss + 1;
        Send(TcpHeader.Syn, _iss, [], synOptions: true);
    }

    public void Input(TcpHeader tcp)
    {
        if (_state == State.Closed) return;
        if (tcp.Has(TcpHeader.Rst))
        {
            Close(sendReset: false);
            return;
        }
        switch (_state)
        {
            case State.Connecting:
                return; // a retransmitted SYN while the host connect() is under way
            case State.SynSent:
                if (!tcp.Has(TcpHeader.Syn) || !tcp.Has(TcpHeader.Ack) || tcp.Acknowledgment != _iss + 1) return;
                _rcvNxt = tcp.Sequence + 1;
                TakeSynOptions(tcp);
                if (tcp.WindowShift < 0) _ourShift = 0;
                _sndUna = _iss + 1;
                Establish();
                Send(TcpHeader.Ack, _sndNxt, []);
                _guestWindow = tcp.Window; // a SYN's window is never scaled
                return;
            case State.SynReceived:
                if (tcp.Has(TcpHeader.Syn))
                {
                    Send(TcpHeader.Syn | TcpHeader.Ack, _iss, [], synOptions: true);
                    return;
                }
                if (!tcp.Has(TcpHeader.Ack) || tcp.Acknowledgment != _iss + 1) return;
                _sndUna = _iss + 1;
                Establish();
                break;
        }
        if (tcp.Has(TcpHeader.Syn))
        {
            Send(TcpHeader.Ack, _sndNxt, []); // a retransmitted SYN-ACK: our ACK got lost
            return;
        }
        bool acknowledged = tcp.Has(TcpHeader.Ack) && Acknowledged(tcp.Acknowledgment);
        _guestWindow = (long)tcp.Window << _guestShift;
        Receive(tcp);
        if (acknowledged) ReadNow(); // room again: take more from the host now
        else Pump();
        Finish();
    }

    /// <summary>Sends what the guest's window allows, then the FIN once the host has closed and all data went out.</summary>
    public void Pump()
    {
        if (_state != State.Established) return;
        Span<byte> chunk = stackalloc byte[OurMss];
        while (!TcpNat.QueueFull(_network))
        {
            int inFlight = (int)(_sndNxt - _sndUna) - (_finSent ? 1 : 0);
            int unsent = _toGuest.Count - inFlight;
            long room = _guestWindow - inFlight;
            if (unsent <= 0 || room <= 0 || _finSent) break;
            int n = (int)Math.Min(Math.Min(unsent, room), _mss);
            _toGuest.Peek(inFlight, chunk[..n]);
            Send((byte)(TcpHeader.Ack | (n == unsent ? TcpHeader.Psh : 0)), _sndNxt, chunk[..n]);
            _sndNxt += (uint)n;
            if ((int)(_sndNxt - _sndMax) > 0)
            {
                _timer.Sent(_sndNxt);
                _sndMax = _sndNxt;
            }
        }
        if (_hostEof && !_finSent && (int)(_sndNxt - _sndUna) == _toGuest.Count)
        {
            Send(TcpHeader.Fin | TcpHeader.Ack, _sndNxt, []);
            _sndNxt++;
            _finSent = true;
        }
    }

    /// <summary>Every 100 ms: retransmission (go back to the first unacknowledged byte) and zero-window probes.</summary>
    public void Tick()
    {
        bool waiting = _state is State.SynReceived or State.SynSent || _sndNxt != _sndUna
            || (_state == State.Established && _guestWindow == 0 && _toGuest.Count > 0);
        if (!waiting)
        {
            _timer.Idle();
            return;
        }
        if (!_timer.Expired(_network.PendingUnlocked > 0)) return;
        if (++_retries > MaxRetries)
        {
            Close(sendReset: true);
            return;
        }
        switch (_state)
        {
            case State.SynReceived:
                Send(TcpHeader.Syn | TcpHeader.Ack, _iss, [], synOptions: true);
                break;
            case State.SynSent:
                Send(TcpHeader.Syn, _iss, [], synOptions: true);
                break;
            case State.Established:
                _sndNxt = _sndUna;
                _finSent = false;
                if (_guestWindow == 0) _guestWindow = 1; // probe a closed window with one byte
                Pump();
                break;
        }
    }

    /// <summary>
    /// Completes once the host socket has taken every byte the guest sent (or the connection is gone). The guest
    /// was told those bytes arrived when they were buffered, so a network shutting down waits for this first.
    /// </summary>
    public Task Flushed()
    {
        if (_state != State.Established || _toHost.Count == 0) return Task.CompletedTask;
        _flushed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _flushed.Task;
    }

    /// <summary>The network is going away: the host reads EOF after everything it was sent, the guest hears nothing.</summary>
    public void Shutdown()
    {
        if (_state == State.Established && !_hostShutdown)
        {
            try
            {
                _host.Shutdown(SocketShutdown.Send); // a bare close with a receive pending would reset the connection
                _hostShutdown = true;
            }
            catch (SocketException)
            {
            }
        }
        Close(sendReset: false);
    }

    public void Close(bool sendReset)
    {
        if (_state == State.Closed) return;
        if (sendReset && _state != State.Connecting) Send(TcpHeader.Rst | TcpHeader.Ack, _sndNxt, []);
        _state = State.Closed;
        try
        {
            if (sendReset) _host.LingerState = new LingerOption(true, 0);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        _host.Dispose();
        if (_roomToGuest.CurrentCount == 0) _roomToGuest.Release();
        if (_dataToHost.CurrentCount == 0) _dataToHost.Release();
        _flushed?.TrySetResult();
        _removed();
    }

    private void TakeSynOptions(TcpHeader syn)
    {
        _mss = Math.Clamp(syn.Mss, 64, OurMss);
        _guestShift = syn.WindowShift >= 0 ? syn.WindowShift : 0;
    }

    private void Establish()
    {
        _state = State.Established;
        _host.Blocking = false; // ReadNow must never wait on the guest's thread
        _sndMax = _sndNxt;
        _retries = 0;
        _timer.Acknowledged(_sndNxt);
        _ = Task.Run(ReadLoop);
        _ = Task.Run(WriteLoop);
    }

    private bool Acknowledged(uint ack)
    {
        uint acked = ack - _sndUna;
        if (acked == 0 || acked > _sndNxt - _sndUna) return false;
        int dataAcked = (int)Math.Min(acked, (uint)_toGuest.Count);
        _toGuest.Discard(dataAcked);
        _sndUna = ack;
        _retries = 0;
        _timer.Acknowledged(ack);
        if (_roomToGuest.CurrentCount == 0) _roomToGuest.Release();
        return true;
    }

    private void Receive(TcpHeader tcp)
    {
        var data = tcp.Data;
        bool fin = tcp.Has(TcpHeader.Fin);
        if (data.Length == 0 && !fin) return;
        int offset = (int)(_rcvNxt - tcp.Sequence);
        if (offset < 0 || offset > data.Length || (offset == data.Length && (!fin || _guestFin)))
        {
            Send(TcpHeader.Ack, _sndNxt, []); // out of order or already seen: say where we are
            return;
        }
        int taken = _guestFin ? 0 : _toHost.Append(data[offset..]);
        _rcvNxt += (uint)taken;
        if (fin && !_guestFin && offset + taken == data.Length)
        {
            _guestFin = true;
            _rcvNxt++;
        }
        if (_dataToHost.CurrentCount == 0) _dataToHost.Release();
        Send(TcpHeader.Ack, _sndNxt, []);
    }

    /// <summary>The host socket took <paramref name="sent"/> bytes.</summary>
    private void Discard(int sent)
    {
        _toHost.Discard(sent);
        if (_toHost.Count == 0)
        {
            _flushed?.TrySetResult();
            _flushed = null;
        }
    }

    // Both directions closed and our FIN acknowledged: the connection is done.
    private void Finish()
    {
        if (_state == State.Established && _guestFin && _hostShutdown && _finSent && _sndUna == _sndNxt) Close(sendReset: false);
    }

    private ushort Window()
    {
        long free = _toHost.Free >> _ourShift;
        return (ushort)Math.Min(free, 65535);
    }

    private void Send(byte flags, uint sequence, ReadOnlySpan<byte> data, bool synOptions = false)
    {
        int options = synOptions ? (_ourShift > 0 || _state == State.SynSent ? 8 : 4) : 0;
        var frame = _network.ToGuest(_remote, _guest, Packet.Tcp, 20 + options + data.Length, 64, out var t);
        BinaryPrimitives.WriteUInt16BigEndian(t, _remotePort);
        BinaryPrimitives.WriteUInt16BigEndian(t[2..], _guestPort);
        BinaryPrimitives.WriteUInt32BigEndian(t[4..], sequence);
        if ((flags & TcpHeader.Ack) != 0) BinaryPrimitives.WriteUInt32BigEndian(t[8..], _rcvNxt);
        t[12] = (byte)((20 + options) / 4 << 4);
        t[13] = flags;
        ushort window = (flags & TcpHeader.Syn) != 0 ? (ushort)Math.Min(_toHost.Free, 65535) : Window();
        BinaryPrimitives.WriteUInt16BigEndian(t[14..], window);
        if (options > 0)
        {
            t[20] = 2;
            t[21] = 4;
            BinaryPrimitives.WriteUInt16BigEndian(t[22..], OurMss);
            if (options == 8)
            {
                t[24] = 1;
                t[25] = 3;
                t[26] = 3;
                t[27] = OurShift;
            }
        }
        data.CopyTo(t[(20 + options)..]);
        Packet.SealTransport(frame, 16);
        _network.Emit(frame);
    }

    private async Task ConnectAsync(IPEndPoint target)
    {
        bool connected;
        try
        {
            await _host.ConnectAsync(target).ConfigureAwait(false);
            connected = true;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            connected = false;
        }
        lock (_network.SyncRoot)
        {
            if (_state != State.Connecting) return;
            if (!connected)
            {
                // RST+ACK as for a closed port; the SYN is acknowledged.
                Send(TcpHeader.Rst | TcpHeader.Ack, 0, []);
                Close(sendReset: false);
            }
            else
            {
                _state = State.SynReceived;
                _sndUna = _iss;
                _sndNxt = _iss + 1;
                Send(TcpHeader.Syn | TcpHeader.Ack, _iss, [], synOptions: true);
            }
        }
        _network.Notify();
    }

    // Waits until the host socket has something (a zero-byte receive), then takes it under the lock; the guest's
    // acknowledgments take it too (ReadNow), so every read happens under the lock and in order.
    private async Task ReadLoop()
    {
        try
        {
            while (true)
            {
                bool full;
                lock (_network.SyncRoot)
                {
                    if (_state == State.Closed) return;
                    ReadNow();
                    if (_hostEof || _state == State.Closed) return;
                    full = _toGuest.Free == 0;
                }
                _network.Notify();
                if (full) await _roomToGuest.WaitAsync().ConfigureAwait(false);
                else await _host.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Abort();
        }
        finally
        {
            _network.Notify();
        }
    }

    /// <summary>
    /// Takes what the host socket holds without waiting (under the lock) while there is room, then sends the guest
    /// what its window allows. Called by the read loop and when the guest acknowledges, so on a guest that keeps
    /// acknowledging, data flows on its own thread without waiting for the read loop to be scheduled.
    /// </summary>
    private void ReadNow()
    {
        while (_state == State.Established && !_hostEof && _toGuest.Free > 0)
        {
            int n = _host.Receive(_incoming, 0, Math.Min(_toGuest.Free, _incoming.Length), SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock) break;
            if (error != SocketError.Success)
            {
                Close(sendReset: true);
                return;
            }
            if (n == 0) _hostEof = true;
            else _toGuest.Append(_incoming.AsSpan(0, n));
        }
        Pump();
    }

    private async Task WriteLoop()
    {
        var buffer = new byte[65536];
        try
        {
            while (true)
            {
                int n;
                lock (_network.SyncRoot)
                {
                    if (_state == State.Closed) return;
                    n = Math.Min(_toHost.Count, buffer.Length);
                    _toHost.Peek(0, buffer.AsSpan(0, n));
                    if (n == 0 && _guestFin)
                    {
                        _host.Shutdown(SocketShutdown.Send);
                        _hostShutdown = true;
                        Finish();
                        return;
                    }
                }
                if (n == 0)
                {
                    await _dataToHost.WaitAsync().ConfigureAwait(false);
                    continue;
                }
                int sent = await _host.SendAsync(buffer.AsMemory(0, n), SocketFlags.None).ConfigureAwait(false);
                lock (_network.SyncRoot)
                {
                    if (_state == State.Closed) return;
                    bool wasLow = _toHost.Free < _toHost.Capacity / 2;
                    Discard(sent);
                    if (wasLow) Send(TcpHeader.Ack, _sndNxt, []); // window update
                }
                _network.Notify();
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Abort();
        }
    }

    private void Abort()
    {
        lock (_network.SyncRoot) Close(sendReset: true);
        _network.Notify();
    }
}
