using System.Buffers.Binary;
using System.Text;

namespace ImageTool.Nbd;

// The client's export list, gathered as qemu-nbd -L does: OPT_LIST, then OPT_INFO and OPT_LIST_META_CONTEXT
// for each export, then a polite OPT_ABORT.
internal sealed partial class NbdClient
{
    public static IReadOnlyList<NbdExportListing> ListExports(NbdAddress address, TimeSpan timeout, NbdClientTls? tls = null)
    {
        using var socket = NbdSocket.Connect(address, timeout);
        var client = new NbdClient(socket);
        try
        {
            client.Greet();
            if (tls != null) client.StartTls(tls);
            client.SendOption(NbdOption.StructuredReply, []);
            client.Structured = client.ReadOptionReply(NbdOption.StructuredReply, toleratedError: true).Type == NbdReplyType.Ack;
            var exports = client.ReadList();
            for (int i = 0; i < exports.Count; i++)
            {
                // A server without OPT_INFO will not know meta contexts either: the rest are listed by name only.
                if (client.ReadInfo(exports[i]) is not { } described) break;
                exports[i] = client.Structured ? described with { Contexts = client.ListContexts(described.Name) } : described;
            }
            client.SendOption(NbdOption.Abort, []);
            return exports;
        }
        catch (NbdConnectionException e)
        {
            throw new ImageFormatException($"NBD handshake failed: {e.Message}", e);
        }
    }

    private List<NbdExportListing> ReadList()
    {
        var exports = new List<NbdExportListing>();
        SendOption(NbdOption.List, []);
        while (true)
        {
            var (type, data) = ReadOptionReply(NbdOption.List);
            if (type == NbdReplyType.Ack) return exports;
            if (type != NbdReplyType.Server || data.Length < 4) throw Protocol("Unexpected reply to the list option");
            int nameLength = (int)BinaryPrimitives.ReadUInt32BigEndian(data);
            if (nameLength > data.Length - 4) throw Protocol("Export name longer than its reply");
            exports.Add(new NbdExportListing(Encoding.UTF8.GetString(data, 4, nameLength),
                Encoding.UTF8.GetString(data, 4 + nameLength, data.Length - 4 - nameLength)));
        }
    }

    /// <summary>OPT_INFO asking for the block sizes; null when the server does not know the option.</summary>
    private NbdExportListing? ReadInfo(NbdExportListing export)
    {
        byte[] name = Encoding.UTF8.GetBytes(export.Name);
        var info = new byte[4 + name.Length + 2 + 2];
        BinaryPrimitives.WriteUInt32BigEndian(info, (uint)name.Length);
        name.CopyTo(info, 4);
        BinaryPrimitives.WriteUInt16BigEndian(info.AsSpan(4 + name.Length), 1);
        BinaryPrimitives.WriteUInt16BigEndian(info.AsSpan(6 + name.Length), (ushort)NbdInfoType.BlockSize);
        SendOption(NbdOption.Info, info);
        while (true)
        {
            var (type, data) = ReadOptionReply(NbdOption.Info, toleratedError: true);
            if (type == NbdReplyType.ErrUnsup) return null;
            if (type == NbdReplyType.Ack) return export;
            if (type != NbdReplyType.Info || data.Length < 2) throw Protocol("Unexpected reply to the info option");
            switch ((NbdInfoType)BinaryPrimitives.ReadUInt16BigEndian(data))
            {
                case NbdInfoType.Export when data.Length == 12:
                    export = export with
                    {
                        Size = (long)BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(2)),
                        Flags = (NbdTransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(10)),
                    };
                    break;
                case NbdInfoType.BlockSize when data.Length == 14:
                    export = export with
                    {
                        BlockSizes = (BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(2)), BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(6)),
                            BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(10))),
                    };
                    break;
                case NbdInfoType.Export or NbdInfoType.BlockSize:
                    throw Protocol("Information reply of the wrong length");
            }
        }
    }

    /// <summary>
    /// Every context of an export: a query naming none, and, as qemu does for servers that forget the qemu:
    /// namespace in that answer, a "qemu:" query when only other contexts came back.
    /// </summary>
    private List<string> ListContexts(string export)
    {
        var contexts = new List<string>();
        foreach (string? query in (string?[])[null, "qemu:"])
        {
            if (query != null && (contexts.Count == 0 || contexts.Any(c => c.StartsWith("qemu:", StringComparison.Ordinal)))) break;
            byte[] name = Encoding.UTF8.GetBytes(export);
            byte[] text = Encoding.UTF8.GetBytes(query ?? "");
            var data = new byte[4 + name.Length + 4 + (query == null ? 0 : 4 + text.Length)];
            BinaryPrimitives.WriteUInt32BigEndian(data, (uint)name.Length);
            name.CopyTo(data, 4);
            BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(4 + name.Length), query == null ? 0u : 1u);
            if (query != null)
            {
                BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(8 + name.Length), (uint)text.Length);
                text.CopyTo(data, 12 + name.Length);
            }
            SendOption(NbdOption.ListMetaContext, data);
            while (true)
            {
                var (type, reply) = ReadOptionReply(NbdOption.ListMetaContext, toleratedError: true);
                if (type == NbdReplyType.Ack || ((uint)type & 0x80000000) != 0) break;
                if (type != NbdReplyType.MetaContext || reply.Length < 4) throw Protocol("Unexpected reply to the list meta context option");
                contexts.Add(Encoding.UTF8.GetString(reply, 4, reply.Length - 4));
            }
        }
        return contexts;
    }
}
