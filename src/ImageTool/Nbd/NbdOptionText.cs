namespace ImageTool.Nbd;

/// <summary>How qemu's NBD client words option names and option errors (nbd/common.c, nbd/client.c).</summary>
internal static class NbdOptionText
{
    public static string Name(NbdOption option) => option switch
    {
        NbdOption.ExportName => "export name",
        NbdOption.Abort => "abort",
        NbdOption.List => "list",
        NbdOption.StartTls => "starttls",
        NbdOption.Info => "info",
        NbdOption.Go => "go",
        NbdOption.StructuredReply => "structured reply",
        NbdOption.ListMetaContext => "list meta context",
        NbdOption.SetMetaContext => "set meta context",
        _ => "<unknown>",
    };

    /// <summary>The error for an option reply of an error type; the server's own message follows as qemu's hint.</summary>
    public static string Error(NbdOption option, NbdReplyType type, string message)
    {
        string what = $"{(uint)option} ({Name(option)})";
        string text = type switch
        {
            NbdReplyType.ErrUnsup => $"Server does not support option {what}",
            NbdReplyType.ErrPolicy => $"Denied by server for option {what}",
            NbdReplyType.ErrInvalid => $"Invalid parameters for option {what}",
            NbdReplyType.ErrPlatform => $"Server lacks support for option {what}",
            NbdReplyType.ErrTlsReqd => $"TLS negotiation required before option {what}\nDid you forget a valid tls-creds?",
            NbdReplyType.ErrUnknown => "Requested export not available",
            NbdReplyType.ErrShutdown => $"Server shutting down before option {what}",
            NbdReplyType.ErrBlockSizeReqd => $"Server requires INFO_BLOCK_SIZE for option {what}",
            NbdReplyType.ErrTooBig => $"Server considers option {what} too large",
            _ => $"Unknown error code when asking for option {what}",
        };
        return message.Length == 0 ? text : $"{text}\nserver reported: {message}";
    }
}
