using System.Buffers;
using System.Runtime.ExceptionServices;

namespace ImageTool.Nbd;

/// <summary>
/// One client of <see cref="NbdServer"/>: the handshake, then requests served as qemu-nbd does, several at a
/// time on the shared device. Workers take turns reading the socket: the one that has read a request runs it
/// and sends its reply while another reads the next, so replies may go out in any order (the protocol allows
/// it; the cookie tells them apart). At most <see cref="MaxInFlight"/> requests run at once; beyond that the
/// client waits for the socket to be read again. A request the protocol lets us refuse gets an error reply and
/// the session goes on; a client that breaks framing (bad magic, a write payload too large to skip) is
/// disconnected. Nothing is written that the client did not send.
/// </summary>
internal sealed partial class NbdServerSession(NbdSocket socket, NbdExport export, TimeSpan timeout, NbdServerTls? tls)
{
    /// <summary>qemu-nbd's limit too (NBD_MAX_REQUESTS).</summary>
    private const int MaxInFlight = 16;

    private readonly NbdSocket _socket = socket;
    private readonly NbdExport _export = export;
    private readonly NbdServerTls? _tls = tls;
    private readonly Lock _readLock = new(), _sendLock = new(), _stateLock = new();
    private readonly ManualResetEventSlim _allWorkersGone = new();
    private int _workers, _waitingToRead; // under _stateLock
    private bool _ended; // no more requests are read: the client said DISCONNECT, or the connection failed
    private Exception? _failure;

    /// <summary>Runs the session to its end; throws what broke the connection, after every request taken has been answered.</summary>
    public void Run()
    {
        _socket.Timeout = timeout; // the handshake, payloads and replies must each go through in time (qemu-nbd: 10 s)
        if (!Negotiate()) return;
        _workers = 1;
        Work();
        _allWorkersGone.Wait();
        _allWorkersGone.Dispose();
        if (_failure != null) ExceptionDispatchInfo.Throw(_failure);
    }

    private void Work()
    {
        try
        {
            while (TryTake(out var request, out byte[]? payload))
            {
                try
                {
                    Serve(request, payload);
                }
                finally
                {
                    if (payload != null) ArrayPool<byte>.Shared.Return(payload);
                }
            }
        }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException or ImageFormatException)
        {
            End(e);
        }
        finally
        {
            lock (_stateLock)
            {
                if (--_workers == 0) _allWorkersGone.Set();
            }
        }
    }

    /// <summary>
    /// Reads the next request (and a write's payload) in this worker's turn; false when there will be no more.
    /// Before going off to run it, makes sure someone reads the request after it.
    /// </summary>
    private bool TryTake(out NbdRequest request, out byte[]? payload)
    {
        request = default;
        payload = null;
        lock (_stateLock) _waitingToRead++;
        lock (_readLock)
        {
            lock (_stateLock)
            {
                _waitingToRead--;
                if (_ended) return false;
            }
            try
            {
                request = ReadRequest(out payload);
            }
            catch (IOException e)
            {
                // The reading side is done; requests already taken still get their replies.
                lock (_stateLock)
                {
                    _failure ??= e;
                    _ended = true;
                }
                if (e is BrokenFramingException broken) RefuseLast(broken);
                return false;
            }
            if (request.Command == NbdCommand.Disconnect)
            {
                lock (_stateLock) _ended = true;
                return false;
            }
            lock (_stateLock)
            {
                if (_waitingToRead == 0 && _workers < MaxInFlight)
                {
                    _workers++;
                    new Thread(Work) { IsBackground = true, Name = "nbd request" }.Start();
                }
            }
            return true;
        }
    }

    private NbdRequest ReadRequest(out byte[]? payload)
    {
        payload = null;
        Span<byte> header = stackalloc byte[NbdRequest.Size];
        _socket.ReceiveWaitsForever = true; // an idle client may wait as long as it likes
        _socket.ReadExactly(header);
        _socket.ReceiveWaitsForever = false;
        var request = NbdRequest.Read(header);
        if (request.Magic != NbdConstants.RequestMagic)
            throw new BrokenFramingException(request.Cookie, $"invalid magic (got 0x{request.Magic:x}, expected 0x{NbdConstants.RequestMagic:x})");
        if (request.Command == NbdCommand.Write)
        {
            // The payload must be consumed to stay in step; one too big to hold ends the session (qemu does the same).
            if (request.Length > NbdConstants.MaxPayload) throw new BrokenFramingException(request.Cookie, TooLong(request.Length));
            payload = ArrayPool<byte>.Shared.Rent((int)request.Length);
            try
            {
                _socket.ReadExactly(payload.AsSpan(0, (int)request.Length));
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(payload);
                payload = null;
                throw;
            }
        }
        return request;
    }

    /// <summary>
    /// A request that cannot be told from what follows it (bad magic, a write payload too large to read) still gets
    /// qemu-nbd's EINVAL reply, under whatever cookie its header carried, before the session ends.
    /// </summary>
    private void RefuseLast(BrokenFramingException broken)
    {
        try
        {
            SendError(broken.Cookie, NbdError.Inval, broken.Message);
        }
        catch (IOException)
        {
        }
    }

    private sealed class BrokenFramingException(ulong cookie, string message) : NbdConnectionException(message)
    {
        public ulong Cookie { get; } = cookie;
    }

    /// <summary>A worker failed (its reply could not be sent): the session ends, and the reader waiting on the socket wakes.</summary>
    private void End(Exception e)
    {
        lock (_stateLock)
        {
            _failure ??= e;
            _ended = true;
        }
        _socket.Shutdown();
    }
}
