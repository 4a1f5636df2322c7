using System.Globalization;
using ImageTool.Options;

namespace ImageTool.Nbd;

/// <summary>
/// Where an NBD export lives: a TCP host and port or a Unix socket path, plus the export name. Parsed from
/// qemu's URLs (<c>nbd://host[:port]/export</c>, <c>nbd+unix:///export?socket=PATH</c>) or from its
/// <c>driver=nbd,server.type=inet|unix,...</c> options, and printed back as qemu names the node.
/// </summary>
internal sealed record NbdAddress(string? Host, int Port, string? SocketPath, string Export)
{
    public bool IsUnix => SocketPath != null;

    public static bool IsNbdUrl(string name) =>
        name.StartsWith("nbd://", StringComparison.Ordinal) || name.StartsWith("nbd+tcp://", StringComparison.Ordinal)
        || name.StartsWith("nbd+unix://", StringComparison.Ordinal);

    /// <summary>Parses a URL as qemu's nbd_parse_uri does; errors are its "No valid URL specified".</summary>
    public static NbdAddress ParseUrl(string url)
    {
        var bad = new ImageFormatException("No valid URL specified");
        int schemeEnd = url.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0) throw bad;
        string scheme = url[..schemeEnd];
        bool unix = scheme == "nbd+unix";
        if (scheme is not ("nbd" or "nbd+tcp" or "nbd+unix")) throw bad;
        string rest = url[(schemeEnd + 3)..];
        string? query = null;
        int q = rest.IndexOf('?');
        if (q >= 0) (rest, query) = (rest[..q], rest[(q + 1)..]);
        int slash = rest.IndexOf('/');
        string authority = slash < 0 ? rest : rest[..slash];
        string export = slash < 0 ? "" : Uri.UnescapeDataString(rest[(slash + 1)..]);
        if (unix)
        {
            if (authority.Length != 0 || query == null || !query.StartsWith("socket=", StringComparison.Ordinal) || query.Contains('&'))
                throw bad;
            return new NbdAddress(null, 0, Uri.UnescapeDataString(query["socket=".Length..]), export);
        }
        if (query != null || authority.Length == 0) throw bad;
        string host = authority;
        int port = NbdConstants.DefaultPort;
        int colon = authority.LastIndexOf(':');
        if (colon >= 0 && !authority.EndsWith(']'))
        {
            host = authority[..colon];
            if (!int.TryParse(authority[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is <= 0 or > 65535)
                throw bad;
        }
        host = host.Trim('[', ']');
        return new NbdAddress(host, port, null, export);
    }

    /// <summary>
    /// qemu's nbd driver options under <paramref name="prefix"/> ("" for <c>driver=nbd</c>, "file." below a format):
    /// <c>server.type</c>, <c>server.host</c>, <c>server.port</c>, <c>server.path</c>, <c>export</c>.
    /// </summary>
    public static NbdAddress FromOptions(ImageOptions options, string prefix)
    {
        string Get(string name) => options.GetString(prefix + name) ?? "";
        string export = Get("export");
        if (Legacy(options, prefix) is { } legacy) return legacy with { Export = export };
        string type = Get("server.type");
        if (type is "unix" or "inet") NbdOptionKeys.CheckServer(options, prefix, type);
        if (type == "unix")
        {
            string path = Get("server.path");
            if (path.Length == 0) throw new ImageFormatException("Parameter 'server.path' is missing");
            return new NbdAddress(null, 0, path, export);
        }
        if (type != "inet") throw new ImageFormatException(type.Length == 0 ? "Parameter 'server.type' is missing" : $"Parameter 'server.type' does not accept value '{type}'");
        string host = Get("server.host");
        if (host.Length == 0) throw new ImageFormatException("Parameter 'server.host' is missing");
        string portText = Get("server.port");
        int port = NbdConstants.DefaultPort;
        if (portText.Length != 0 && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is <= 0 or > 65535))
            throw new ImageFormatException($"address resolution failed for {host}:{portText}: Servname not supported for ai_socktype");
        return new NbdAddress(host, port, null, export);
    }

    /// <summary>
    /// The address in the keys qemu still takes from before <c>server.*</c> (nbd_process_legacy_socket_options):
    /// <c>path</c> for a socket, <c>host</c> and <c>port</c> for TCP; null when none is given.
    /// </summary>
    private static NbdAddress? Legacy(ImageOptions options, string prefix)
    {
        string? path = options.GetString(prefix + "path"), host = options.GetString(prefix + "host"), port = options.GetString(prefix + "port");
        if (path == null && host == null && port == null) return null;
        if (options.Values.Keys.Any(k => k.StartsWith(prefix + "server.", StringComparison.Ordinal)))
            throw new ImageFormatException("Cannot use 'server' and path/host/port at the same time");
        if (path != null && host != null) throw new ImageFormatException("path and host may not be used at the same time");
        if (path != null)
        {
            if (port != null) throw new ImageFormatException("port may not be used without host");
            return FromOptions(new ImageOptions().Set("server.type", "unix").Set("server.path", path), "");
        }
        if (host == null) return null;
        var server = new ImageOptions().Set("server.type", "inet").Set("server.host", host);
        if (port != null) server.Set("server.port", port);
        return FromOptions(server, "");
    }

    /// <summary>The name qemu gives the node (nbd_refresh_filename): the default port and an empty export are left out.</summary>
    public override string ToString()
    {
        if (IsUnix) return Export.Length != 0 ? $"nbd+unix:///{Export}?socket={SocketPath}" : $"nbd+unix://?socket={SocketPath}";
        string host = Host!.Contains(':') ? $"[{Host}]" : Host;
        string port = Port == NbdConstants.DefaultPort ? "" : $":{Port.ToString(CultureInfo.InvariantCulture)}";
        return Export.Length != 0 ? $"nbd://{host}{port}/{Export}" : $"nbd://{host}{port}";
    }

    /// <summary>Where the connection goes, as qemu's "Failed to connect to '...'" names it.</summary>
    public string Endpoint => IsUnix ? SocketPath! : $"{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";
}
