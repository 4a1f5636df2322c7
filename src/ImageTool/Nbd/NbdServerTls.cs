using ImageTool.Tls;

namespace ImageTool.Nbd;

/// <summary>
/// qemu-nbd's <c>--tls-creds</c> (and <c>--tls-authz</c>): every client must send NBD_OPT_STARTTLS before any
/// other option, and with an authorization only the client certificate it names is let in.
/// </summary>
internal sealed record NbdServerTls(X509Credentials Credentials, SimpleAuthorization? Authorization);
