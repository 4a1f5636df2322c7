using ImageTool.Options;
using ImageTool.Tls;

namespace ImageTool.Nbd;

/// <summary>
/// The client's TLS as qemu's nbd driver takes it: <c>tls-creds=ID</c> (an <c>--object tls-creds-x509</c> with
/// endpoint=client) and <c>tls-hostname</c>, the name the server's certificate must carry (by default the host of
/// a TCP address; a Unix socket has none).
/// </summary>
internal sealed record NbdClientTls(X509Credentials Credentials, string? Hostname)
{
    /// <summary>The TLS the driver options ask for (under <c>file.</c> below a format), or null for none.</summary>
    public static NbdClientTls? FromOptions(ImageOptions? options, NbdAddress address)
    {
        if (options == null) return null;
        string prefix = options.GetString("driver") == "nbd" ? "" : "file.";
        string? id = options.GetString(prefix + "tls-creds");
        if (id == null) return null;
        return new NbdClientTls(TlsObjects.Credentials(id, server: false), options.GetString(prefix + "tls-hostname") ?? address.Host);
    }
}
