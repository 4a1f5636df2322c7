using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests.Nbd;

/// <summary>
/// x509 credential folders as qemu's tls-creds-x509 reads them, made by openssl for one test: a CA, a server
/// certificate for localhost and 127.0.0.1, a client certificate (CN=client, O=Test), all under the same CA.
/// </summary>
public static class TestCertificates
{
    /// <summary>Makes <paramref name="dir"/> with ca-cert.pem, server-*.pem and client-*.pem under a new CA.</summary>
    public static string Make(string dir)
    {
        Tools.Require("openssl");
        Directory.CreateDirectory(dir);
        string P(string name) => Path.Combine(dir, name);
        Tools.Run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", P("ca-key.pem"), "-out", P("ca-cert.pem"),
            "-days", "2", "-subj", "/CN=Test CA").Ok();
        Issue(dir, "server", "/O=Test/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
        Issue(dir, "client", "/O=Test/CN=client", "extendedKeyUsage=clientAuth\n");
        return dir;
    }

    private static void Issue(string dir, string name, string subject, string extensions)
    {
        string P(string file) => Path.Combine(dir, file);
        File.WriteAllText(P(name + ".ext"), extensions + "keyUsage=digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n");
        Tools.Run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", P(name + "-key.pem"), "-out", P(name + ".csr"), "-subj", subject).Ok();
        Tools.Run("openssl", "x509", "-req", "-in", P(name + ".csr"), "-CA", P("ca-cert.pem"), "-CAkey", P("ca-key.pem"), "-CAcreateserial",
            "-out", P(name + "-cert.pem"), "-days", "2", "-extfile", P(name + ".ext")).Ok();
    }

    /// <summary>qemu's --object for credentials in <paramref name="dir"/> as <paramref name="endpoint"/> (server or client).</summary>
    public static string Object(string dir, string endpoint, string id = "tls0") => $"tls-creds-x509,id={id},dir={dir},endpoint={endpoint}";
}
