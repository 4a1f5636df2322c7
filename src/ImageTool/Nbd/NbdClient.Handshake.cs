using System.Buffers.Binary;
using System.Text;

namespace ImageTool.Nbd;

// The client's side of the fixed-newstyle handshake (proto.md "Fixed newstyle negotiation").
internal sealed partial class NbdClient
{
    /// <summary>
    /// Connects and negotiates: TLS when asked for (NBD_OPT_STARTTLS first, as qemu does), structured replies,
    /// the block status context (base:allocation, or <paramref name="statusContext"/>: qemu's x-dirty-bitmap),
    /// then OPT_GO (OPT_EXPORT_NAME on old servers).
    /// </summary>
    public static NbdClient Connect(NbdAddress address, TimeSpan timeout, NbdClientTls? tls = null, string? statusContext = null)
    {
        var socket = NbdSocket.Connect(address, timeout);
        var client = new NbdClient(socket);
        try
        {
            client.Negotiate(address.Export, tls, statusContext ?? NbdMetaContexts.BaseAllocation);
            // qemu's nbd driver fails to open when the context it was told to use is not there.
            if (statusContext != null && client._statusContext == null) throw new ImageFormatException("Could not open image: Invalid argument");
            return client;
        }
        catch (NbdConnectionException e)
        {
            socket.Dispose();
            throw new ImageFormatException($"NBD handshake failed: {e.Message}", e);
        }
        catch when (client._tlsStarted)
        {
            // A failed or half-made TLS session cannot carry a polite NBD_OPT_ABORT.
            socket.Dispose();
            throw;
        }
        catch
        {
            AbortQuietly(socket);
            throw;
        }
    }

    private bool _noZeroes;
    private bool _tlsStarted;

    // A soft disconnect (NBD_OPT_ABORT) after a refused option, as the spec asks of clients, then close.
    private static void AbortQuietly(NbdSocket socket)
    {
        try
        {
            Span<byte> header = stackalloc byte[NbdOptionHeader.Size];
            new NbdOptionHeader(NbdConstants.OptionMagic, NbdOption.Abort, 0).Write(header);
            socket.Timeout = TimeSpan.FromSeconds(1);
            socket.Write(header);
            socket.ReadExactly(stackalloc byte[NbdOptionReplyHeader.Size]);
        }
        catch (IOException)
        {
        }
        socket.Dispose();
    }

    private void Greet()
    {
        if (_socket.ReadUInt64() != NbdConstants.InitMagic) throw new ImageFormatException("Invalid magic received");
        if (_socket.ReadUInt64() != NbdConstants.OptionMagic)
            throw new ImageFormatException("Server does not support the newstyle handshake (oldstyle servers are not supported)");
        var flags = (NbdHandshakeFlags)_socket.ReadUInt16();
        if (!flags.HasFlag(NbdHandshakeFlags.FixedNewstyle))
            throw new ImageFormatException("Server does not support fixed newstyle negotiation");
        _noZeroes = flags.HasFlag(NbdHandshakeFlags.NoZeroes);
        Span<byte> reply = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(reply, (uint)(NbdHandshakeFlags.FixedNewstyle | (flags & NbdHandshakeFlags.NoZeroes)));
        _socket.Write(reply);
    }

    private void Negotiate(string export, NbdClientTls? tls, string statusContext)
    {
        Greet();
        if (tls != null) StartTls(tls);
        byte[] name = Encoding.UTF8.GetBytes(export);
        if (name.Length > NbdConstants.MaxString) throw new ImageFormatException("export name too long to send to server");

        SendOption(NbdOption.StructuredReply, []);
        var (srType, _) = ReadOptionReply(NbdOption.StructuredReply, toleratedError: true);
        Structured = srType == NbdReplyType.Ack;

        if (Structured) NegotiateMetaContext(name, statusContext);

        // OPT_GO with a request for the block-size constraints.
        var go = new byte[4 + name.Length + 2 + 2];
        BinaryPrimitives.WriteUInt32BigEndian(go, (uint)name.Length);
        name.CopyTo(go, 4);
        BinaryPrimitives.WriteUInt16BigEndian(go.AsSpan(4 + name.Length), 1);
        BinaryPrimitives.WriteUInt16BigEndian(go.AsSpan(6 + name.Length), (ushort)NbdInfoType.BlockSize);
        SendOption(NbdOption.Go, go);
        bool haveExport = false;
        while (true)
        {
            var (type, data) = ReadOptionReply(NbdOption.Go, toleratedError: true);
            if (type == NbdReplyType.ErrUnsup)
            {
                ExportNameFallback(name);
                return;
            }
            if (type == NbdReplyType.Ack) break;
            if (type != NbdReplyType.Info || data.Length < 2) throw Protocol("Unexpected reply to the go option");
            switch ((NbdInfoType)BinaryPrimitives.ReadUInt16BigEndian(data))
            {
                case NbdInfoType.Export when data.Length == 12:
                    Size = (long)BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(2));
                    Flags = (NbdTransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(10));
                    haveExport = true;
                    break;
                case NbdInfoType.BlockSize when data.Length == 14:
                    SetBlockSizes(BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(2)),
                        BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(6)), BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(10)));
                    break;
                case NbdInfoType.Export or NbdInfoType.BlockSize:
                    throw Protocol("Information reply of the wrong length");
            }
        }
        if (!haveExport) throw Protocol("Server did not send the export's size and flags");
        CheckSize();
    }

    private void NegotiateMetaContext(byte[] name, string statusContext)
    {
        byte[] query = Encoding.UTF8.GetBytes(statusContext);
        var data = new byte[4 + name.Length + 4 + 4 + query.Length];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)name.Length);
        name.CopyTo(data, 4);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(4 + name.Length), 1);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(8 + name.Length), (uint)query.Length);
        query.CopyTo(data, 12 + name.Length);
        SendOption(NbdOption.SetMetaContext, data);
        while (true)
        {
            var (type, reply) = ReadOptionReply(NbdOption.SetMetaContext, toleratedError: true);
            if (type == NbdReplyType.Ack || ((uint)type & 0x80000000) != 0) return;
            if (type != NbdReplyType.MetaContext || reply.Length < 4) throw Protocol("Unexpected reply to the set meta context option");
            string context = Encoding.UTF8.GetString(reply, 4, reply.Length - 4);
            if (context != statusContext) throw Protocol($"Unexpected context name '{context}'");
            _statusContext = BinaryPrimitives.ReadUInt32BigEndian(reply);
        }
    }

    private void StartTls(NbdClientTls tls)
    {
        SendOption(NbdOption.StartTls, []);
        var (type, data) = ReadOptionReply(NbdOption.StartTls);
        if (type != NbdReplyType.Ack) throw new ImageFormatException($"Server rejected request to start TLS {(uint)type:x}");
        if (data.Length != 0) throw Protocol($"Start TLS response was not zero {data.Length}");
        _tlsStarted = true;
        _socket.StartTlsClient(tls.Credentials, tls.Hostname);
    }

    private void ExportNameFallback(byte[] name)
    {
        SendOption(NbdOption.ExportName, name);
        Size = (long)_socket.ReadUInt64();
        Flags = (NbdTransmissionFlags)_socket.ReadUInt16();
        if (!_noZeroes) _socket.Skip(NbdConstants.ZeroesAfterExportName);
        // Structured replies and meta contexts only take effect with OPT_GO.
        Structured = false;
        _statusContext = null;
        CheckSize();
    }

    private void CheckSize()
    {
        if (Size < 0) throw Protocol("Export size is too large");
    }

    private void SetBlockSizes(uint minimum, uint preferred, uint maximum)
    {
        // proto.md: minimum a power of two up to 64 KiB, preferred a power of two >= minimum, maximum a multiple of minimum.
        if (minimum == 0 || !uint.IsPow2(minimum) || minimum > 64 * 1024 || preferred < minimum || !uint.IsPow2(preferred)
            || (maximum != uint.MaxValue && (maximum < minimum || maximum % minimum != 0)))
            throw Protocol($"Invalid block size constraints {minimum}/{preferred}/{maximum}");
        MinBlock = minimum;
        PreferredBlock = preferred;
        MaxBlock = maximum;
    }

    private void SendOption(NbdOption option, ReadOnlySpan<byte> data)
    {
        Span<byte> header = stackalloc byte[NbdOptionHeader.Size];
        new NbdOptionHeader(NbdConstants.OptionMagic, option, (uint)data.Length).Write(header);
        _socket.Write(header);
        _socket.Write(data);
    }

    private (NbdReplyType Type, byte[] Data) ReadOptionReply(NbdOption option, bool toleratedError = false)
    {
        Span<byte> raw = stackalloc byte[NbdOptionReplyHeader.Size];
        _socket.ReadExactly(raw);
        var header = NbdOptionReplyHeader.Read(raw);
        if (header.Magic != NbdConstants.OptionReplyMagic) throw Protocol("Unexpected option reply magic");
        if (header.Option != option) throw Protocol($"Unexpected option type {(uint)header.Option}, expected {(uint)option}");
        if (header.Length > NbdConstants.MaxString + 64 * 1024) throw Protocol("Option reply too long");
        var data = new byte[header.Length];
        _socket.ReadExactly(data);
        if (header.IsError && !(toleratedError && header.Type == NbdReplyType.ErrUnsup))
        {
            if (toleratedError && option is NbdOption.StructuredReply or NbdOption.SetMetaContext or NbdOption.ListMetaContext && header.Type != NbdReplyType.ErrUnknown)
                return (header.Type, data);
            throw new ImageFormatException(NbdOptionText.Error(option, header.Type, Encoding.UTF8.GetString(data)));
        }
        return (header.Type, data);
    }
}
