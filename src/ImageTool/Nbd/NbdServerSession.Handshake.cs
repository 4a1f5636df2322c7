using System.Buffers.Binary;
using System.Text;

namespace ImageTool.Nbd;

// The server's side of the fixed-newstyle handshake.
internal sealed partial class NbdServerSession
{
    // Bitmap i of the export is context FirstBitmapContextId + i.
    private const uint AllocationContextId = 0, DepthContextId = 1, FirstBitmapContextId = 2;
    private const int MaxOptionLength = 64 * 1024;

    private bool _structured;
    private bool _noZeroes;
    private bool _baseAllocation, _allocationDepth;
    private List<int> _dirtyBitmaps = []; // indexes into the export's bitmaps

    /// <summary>Runs the option phase; true when the client entered transmission, false when it left.</summary>
    private bool Negotiate()
    {
        Span<byte> greeting = stackalloc byte[18];
        BinaryPrimitives.WriteUInt64BigEndian(greeting, NbdConstants.InitMagic);
        BinaryPrimitives.WriteUInt64BigEndian(greeting[8..], NbdConstants.OptionMagic);
        BinaryPrimitives.WriteUInt16BigEndian(greeting[16..], (ushort)(NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes));
        _socket.Write(greeting);
        uint clientFlags = _socket.ReadUInt32();
        if ((clientFlags & ~(uint)(NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes)) != 0)
            throw new NbdConnectionException($"Unsupported client flags 0x{clientFlags:x}");
        _noZeroes = (clientFlags & (uint)NbdHandshakeFlags.NoZeroes) != 0;

        Span<byte> raw = stackalloc byte[NbdOptionHeader.Size];
        while (true)
        {
            _socket.ReadExactly(raw);
            var header = NbdOptionHeader.Read(raw);
            if (header.Magic != NbdConstants.OptionMagic) throw new NbdConnectionException("Bad option magic");
            if (header.Length > MaxOptionLength)
            {
                // Too big to skip politely: a client sending this much option data is not one we serve.
                throw new NbdConnectionException($"Option {(uint)header.Option} too long ({header.Length} bytes)");
            }
            var data = new byte[header.Length];
            _socket.ReadExactly(data);
            if (_tls != null && !_socket.IsTls)
            {
                if (!BeforeTls(header.Option, data)) return false;
                continue;
            }
            switch (header.Option)
            {
                case NbdOption.ExportName:
                    if (Encoding.UTF8.GetString(data) != _export.Name) throw new NbdConnectionException("Unknown export requested");
                    var info = new byte[10 + NbdConstants.ZeroesAfterExportName];
                    BinaryPrimitives.WriteUInt64BigEndian(info, (ulong)_export.Size);
                    BinaryPrimitives.WriteUInt16BigEndian(info[8..], (ushort)_export.Flags(_structured));
                    _socket.Write(_noZeroes ? info.AsSpan(0, 10) : info);
                    return true;
                case NbdOption.Abort:
                    TrySendReply(header.Option, NbdReplyType.Ack, []);
                    return false;
                case NbdOption.List:
                    if (data.Length != 0)
                    {
                        SendError(header.Option, NbdReplyType.ErrInvalid, "no payload expected");
                        break;
                    }
                    SendReply(header.Option, NbdReplyType.Server, NameEntry());
                    SendReply(header.Option, NbdReplyType.Ack, []);
                    break;
                case NbdOption.Info or NbdOption.Go:
                    if (HandleInfo(header.Option, data)) return true;
                    break;
                case NbdOption.StructuredReply:
                    if (data.Length != 0) SendError(header.Option, NbdReplyType.ErrInvalid, "no payload expected");
                    else if (_structured) SendError(header.Option, NbdReplyType.ErrInvalid, "structured reply already negotiated");
                    else
                    {
                        _structured = true;
                        SendReply(header.Option, NbdReplyType.Ack, []);
                    }
                    break;
                case NbdOption.ListMetaContext or NbdOption.SetMetaContext:
                    HandleMetaContext(header.Option, data);
                    break;
                case NbdOption.StartTls:
                    if (data.Length != 0) SendError(header.Option, NbdReplyType.ErrInvalid, "option 'STARTTLS' has unexpected length");
                    else if (_socket.IsTls) SendError(header.Option, NbdReplyType.ErrInvalid, "TLS already enabled");
                    else SendError(header.Option, NbdReplyType.ErrPolicy, "TLS not configured");
                    break;
                default:
                    SendError(header.Option, NbdReplyType.ErrUnsup, $"Unsupported option {(uint)header.Option} ({NbdOptionText.Name(header.Option)})");
                    break;
            }
        }
    }

    /// <summary>
    /// An option while TLS is required and not yet started (qemu-nbd's rules): STARTTLS upgrades the connection,
    /// EXPORT_NAME (which cannot be refused) ends it, anything else is refused with ERR_TLS_REQD. False when the
    /// client has gone (ABORT).
    /// </summary>
    private bool BeforeTls(NbdOption option, byte[] data)
    {
        switch (option)
        {
            case NbdOption.StartTls:
                if (data.Length != 0)
                {
                    SendError(option, NbdReplyType.ErrInvalid, "option 'STARTTLS' has unexpected length");
                    throw new NbdConnectionException("STARTTLS with a payload");
                }
                SendReply(option, NbdReplyType.Ack, []);
                _socket.StartTlsServer(_tls!.Credentials, _tls.Authorization);
                return true;
            case NbdOption.ExportName:
                throw new NbdConnectionException($"Option 0x{(uint)option:x} not permitted before TLS");
            case NbdOption.Abort:
                TrySendReply(option, NbdReplyType.ErrTlsReqd, Encoding.UTF8.GetBytes($"Option 0x{(uint)option:x} not permitted before TLS"));
                return false;
            default:
                SendError(option, NbdReplyType.ErrTlsReqd, $"Option 0x{(uint)option:x} not permitted before TLS");
                return true;
        }
    }

    private byte[] NameEntry()
    {
        byte[] name = Encoding.UTF8.GetBytes(_export.Name);
        byte[] description = Encoding.UTF8.GetBytes(_export.Description ?? "");
        var entry = new byte[4 + name.Length + description.Length];
        BinaryPrimitives.WriteUInt32BigEndian(entry, (uint)name.Length);
        name.CopyTo(entry, 4);
        description.CopyTo(entry, 4 + name.Length);
        return entry;
    }

    /// <summary>OPT_INFO / OPT_GO; true when GO succeeded and transmission starts.</summary>
    private bool HandleInfo(NbdOption option, byte[] data)
    {
        if (data.Length < 6) return Invalid(option, "request too short");
        uint nameLength = BinaryPrimitives.ReadUInt32BigEndian(data);
        if (nameLength > data.Length - 6 || nameLength > NbdConstants.MaxString) return Invalid(option, "name length is incorrect");
        string name = Encoding.UTF8.GetString(data, 4, (int)nameLength);
        int count = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(4 + (int)nameLength));
        if (data.Length != 6 + nameLength + count * 2) return Invalid(option, "request length is incorrect");
        var requests = new List<NbdInfoType>();
        for (int i = 0; i < count; i++)
            requests.Add((NbdInfoType)BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(6 + (int)nameLength + i * 2)));
        if (name != _export.Name)
        {
            SendError(option, NbdReplyType.ErrUnknown, $"export '{name}' not present");
            return false;
        }
        if (requests.Contains(NbdInfoType.Name)) SendInfo(option, NbdInfoType.Name, Encoding.UTF8.GetBytes(_export.Name));
        if (requests.Contains(NbdInfoType.Description) && _export.Description != null)
            SendInfo(option, NbdInfoType.Description, Encoding.UTF8.GetBytes(_export.Description));
        // Block sizes always: qemu-nbd sends them whether asked or not.
        var sizes = new byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(sizes, NbdExport.MinBlock);
        BinaryPrimitives.WriteUInt32BigEndian(sizes.AsSpan(4), NbdExport.PreferredBlock);
        BinaryPrimitives.WriteUInt32BigEndian(sizes.AsSpan(8), NbdExport.MaxBlock);
        SendInfo(option, NbdInfoType.BlockSize, sizes);
        var export = new byte[10];
        BinaryPrimitives.WriteUInt64BigEndian(export, (ulong)_export.Size);
        BinaryPrimitives.WriteUInt16BigEndian(export.AsSpan(8), (ushort)_export.Flags(_structured));
        SendInfo(option, NbdInfoType.Export, export);
        SendReply(option, NbdReplyType.Ack, []);
        return option == NbdOption.Go;
    }

    private void HandleMetaContext(NbdOption option, byte[] data)
    {
        if (option == NbdOption.SetMetaContext && !_structured)
        {
            Invalid(option, "request structured replies first");
            return;
        }
        if (data.Length < 8) { Invalid(option, "request too short"); return; }
        uint nameLength = BinaryPrimitives.ReadUInt32BigEndian(data);
        if (nameLength > data.Length - 8) { Invalid(option, "name length is incorrect"); return; }
        string name = Encoding.UTF8.GetString(data, 4, (int)nameLength);
        int at = 4 + (int)nameLength;
        uint count = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(at));
        at += 4;
        var queries = new List<string>();
        for (uint i = 0; i < count; i++)
        {
            if (data.Length - at < 4) { Invalid(option, "query length is incorrect"); return; }
            uint length = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(at));
            if (length > data.Length - at - 4) { Invalid(option, "query length is incorrect"); return; }
            queries.Add(Encoding.UTF8.GetString(data, at + 4, (int)length));
            at += 4 + (int)length;
        }
        if (at != data.Length) { Invalid(option, "request length is incorrect"); return; }
        if (name != _export.Name)
        {
            SendError(option, NbdReplyType.ErrUnknown, $"export '{name}' not present");
            return;
        }
        bool list = option == NbdOption.ListMetaContext;
        bool allocation = list && queries.Count == 0, depth = list && queries.Count == 0 && _export.AllocationDepth;
        var bitmaps = new SortedSet<int>();
        for (int i = 0; i < _export.DirtyBitmaps.Count; i++)
        {
            string context = _export.DirtyBitmapContext(i);
            if ((list && queries.Count == 0) || queries.Any(q => q == context || (list && q is "qemu:" or NbdMetaContexts.DirtyBitmapPrefix)))
                bitmaps.Add(i);
        }
        foreach (string query in queries)
        {
            if (query == NbdMetaContexts.BaseAllocation || (list && query == "base:")) allocation = true;
            if (_export.AllocationDepth && (query == NbdMetaContexts.AllocationDepth || (list && query == "qemu:"))) depth = true;
        }
        if (option == NbdOption.SetMetaContext) (_baseAllocation, _allocationDepth, _dirtyBitmaps) = (allocation, depth, [.. bitmaps]);
        if (allocation) SendContext(option, AllocationContextId, NbdMetaContexts.BaseAllocation);
        if (depth) SendContext(option, DepthContextId, NbdMetaContexts.AllocationDepth);
        foreach (int i in bitmaps) SendContext(option, FirstBitmapContextId + (uint)i, _export.DirtyBitmapContext(i));
        SendReply(option, NbdReplyType.Ack, []);
    }

    private void SendContext(NbdOption option, uint id, string name)
    {
        byte[] text = Encoding.ASCII.GetBytes(name);
        var data = new byte[4 + text.Length];
        BinaryPrimitives.WriteUInt32BigEndian(data, id);
        text.CopyTo(data, 4);
        SendReply(option, NbdReplyType.MetaContext, data);
    }

    private void SendInfo(NbdOption option, NbdInfoType type, byte[] payload)
    {
        var data = new byte[2 + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(data, (ushort)type);
        payload.CopyTo(data, 2);
        SendReply(option, NbdReplyType.Info, data);
    }

    private bool Invalid(NbdOption option, string message)
    {
        SendError(option, NbdReplyType.ErrInvalid, message);
        return false;
    }

    private void SendError(NbdOption option, NbdReplyType type, string message) => SendReply(option, type, Encoding.UTF8.GetBytes(message));

    private void SendReply(NbdOption option, NbdReplyType type, ReadOnlySpan<byte> data)
    {
        Span<byte> header = stackalloc byte[NbdOptionReplyHeader.Size];
        new NbdOptionReplyHeader(NbdConstants.OptionReplyMagic, option, type, (uint)data.Length).Write(header);
        _socket.Write(header);
        _socket.Write(data);
    }

    private void TrySendReply(NbdOption option, NbdReplyType type, ReadOnlySpan<byte> data)
    {
        try
        {
            SendReply(option, type, data);
        }
        catch (IOException)
        {
        }
    }
}
