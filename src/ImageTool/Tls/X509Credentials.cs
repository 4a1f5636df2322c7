using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ImageTool.Options;

namespace ImageTool.Tls;

/// <summary>
/// qemu's <c>--object tls-creds-x509,id=ID,dir=DIR,endpoint=server|client[,verify-peer=on|off]</c>: the CA
/// certificate and this end's certificate and key, read from qemu's file names in DIR when the object is made
/// (ca-cert.pem; server-cert.pem and server-key.pem, or the optional client-cert.pem and client-key.pem).
/// </summary>
internal sealed class X509Credentials
{
    public required string Id { get; init; }
    public required bool IsServer { get; init; }

    /// <summary>The peer's certificate must chain to the CA (qemu's default; a server then asks clients for one).</summary>
    public required bool VerifyPeer { get; init; }

    public required X509Certificate2Collection Authorities { get; init; }

    /// <summary>This end's certificate with its private key; null for a client without one.</summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>Reads the files the object names; errors are qemu's ("Unable to access credentials PATH: ...").</summary>
    public static X509Credentials FromObject(ImageOptions definition)
    {
        string id = definition.GetString("id") ?? throw new ArgumentException("Parameter 'id' is missing");
        string dir = definition.GetString("dir") ?? throw new ArgumentException("Parameter 'dir' is missing");
        bool isServer = definition.GetString("endpoint") switch
        {
            null or "client" => false,
            "server" => true,
            var other => throw new ArgumentException($"Parameter 'endpoint' does not accept value '{other}'"),
        };
        bool verifyPeer;
        try { verifyPeer = definition.GetBool("verify-peer") ?? true; }
        catch (ImageFormatException e) { throw new ArgumentException(e.Message, e); }

        string ca = Required(dir, "ca-cert.pem");
        string? cert = isServer ? Required(dir, "server-cert.pem") : Optional(dir, "client-cert.pem");
        string? key = isServer ? Required(dir, "server-key.pem") : Optional(dir, "client-key.pem");
        try
        {
            var authorities = new X509Certificate2Collection();
            authorities.ImportFromPemFile(ca);
            if (authorities.Count == 0) throw new CryptographicException("no certificate in the file");
            return new X509Credentials
            {
                Id = id,
                IsServer = isServer,
                VerifyPeer = verifyPeer,
                Authorities = authorities,
                Certificate = cert != null && key != null ? X509Certificate2.CreateFromPemFile(cert, key) : null,
            };
        }
        catch (CryptographicException e)
        {
            throw new ArgumentException($"Unable to load credentials in {dir}: {e.Message}", e);
        }
    }

    private static string Required(string dir, string name) =>
        Optional(dir, name) ?? throw new ArgumentException($"Unable to access credentials {Path.Combine(dir, name)}: No such file or directory");

    private static string? Optional(string dir, string name)
    {
        string path = Path.Combine(dir, name);
        return File.Exists(path) ? path : null;
    }
}
