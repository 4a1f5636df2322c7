using ImageTool.Info;
using ImageTool.Options;

namespace ImageTool.Nbd;

/// <summary>
/// The option names qemu's nbd driver takes (block/nbd.c and the QAPI SocketAddress of <c>server.*</c>), so that a
/// misspelt one is refused with qemu's words instead of silently ignored.
/// </summary>
internal static class NbdOptionKeys
{
    private static readonly string[] Driver =
    [
        "driver", "filename", "export", "tls-creds", "tls-hostname", "x-dirty-bitmap", "reconnect-delay", "open-timeout",
        "host", "port", "path",
        // Every block node's (bdrv_runtime_opts and the generic open flags).
        "node-name", "read-only", "auto-read-only", "discard", "cache.direct", "cache.no-flush", "detect-zeroes", "force-share",
    ];

    private static readonly string[] InetServer = ["type", "host", "port", "numeric", "to", "ipv4", "ipv6", "keep-alive", "mptcp"];
    private static readonly string[] UnixServer = ["type", "path", "abstract", "tight"];

    /// <summary>
    /// Refuses a <c>server.*</c> member the address type does not have, as qemu's QAPI visitor does before it
    /// connects ("Parameter 'port' is unexpected" for a unix address).
    /// </summary>
    public static void CheckServer(ImageOptions options, string prefix, string type)
    {
        string server = prefix + "server.";
        var known = type == "unix" ? UnixServer : InetServer;
        var unexpected = options.Values.Keys.Where(k => k.StartsWith(server, StringComparison.Ordinal))
            .Select(k => k[server.Length..]).Where(k => !known.Contains(k));
        if (FirstInQemuOrder(unexpected) is { } key) throw new ImageFormatException($"Parameter '{key}' is unexpected");
    }

    /// <summary>
    /// Refuses an option the driver does not know, as qemu does once the driver has opened (after connecting):
    /// the first left over in qemu's QDict order.
    /// </summary>
    public static void CheckDriver(ImageOptions options, string prefix)
    {
        var unknown = options.Values.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).Select(k => k[prefix.Length..])
            .Where(k => !Driver.Contains(k) && !k.StartsWith("server.", StringComparison.Ordinal));
        if (FirstInQemuOrder(unknown) is { } key) throw new ImageFormatException($"Block protocol 'nbd' doesn't support the option '{key}'");
    }

    private static string? FirstInQemuOrder(IEnumerable<string> keys) =>
        keys.OrderBy(QemuHash.Bucket).ThenBy(k => k, StringComparer.Ordinal).FirstOrDefault();
}
