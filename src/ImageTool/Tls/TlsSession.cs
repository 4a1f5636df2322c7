using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace ImageTool.Tls;

/// <summary>
/// A TLS session over a connected stream through the BCL's <see cref="SslStream"/>, both ends checking the
/// peer's certificate against the credentials' CA as qemu's crypto layer does, with its words for a refusal.
/// </summary>
internal static class TlsSession
{
    /// <summary>
    /// The client's handshake. <paramref name="hostname"/> is the name the server's certificate must carry
    /// (qemu's tls-hostname; the host of a TCP address by default).
    /// </summary>
    public static SslStream Client(Stream inner, X509Credentials credentials, string? hostname)
    {
        if (credentials.VerifyPeer && hostname == null) throw new ImageFormatException("No hostname for certificate validation");
        string? refusal = null;
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = hostname ?? "",
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, presented, chain, errors) =>
                (refusal = Refusal(credentials, presented, chain, hostname != null && errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) ? hostname : null)) == null,
        };
        if (credentials.Certificate is { } own) options.LocalCertificateSelectionCallback = (_, _, _, _, _) => own;
        var ssl = new SslStream(inner, leaveInnerStreamOpen: true);
        try
        {
            ssl.AuthenticateAsClient(options);
            return ssl;
        }
        catch (AuthenticationException e)
        {
            ssl.Dispose();
            throw new ImageFormatException(refusal ?? $"TLS handshake failed: {Innermost(e)}", e);
        }
        catch
        {
            ssl.Dispose();
            throw;
        }
    }

    /// <summary>The server's handshake; with <paramref name="authorization"/> only that client certificate name is let in.</summary>
    public static SslStream Server(Stream inner, X509Credentials credentials, SimpleAuthorization? authorization)
    {
        string? refusal = null;
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificate = credentials.Certificate,
            ClientCertificateRequired = credentials.VerifyPeer,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, presented, chain, _) => (refusal = Refusal(credentials, presented, chain, null)) == null,
        };
        var ssl = new SslStream(inner, leaveInnerStreamOpen: true);
        try
        {
            ssl.AuthenticateAsServer(options);
            if (authorization != null)
            {
                string name = ssl.RemoteCertificate is { } peer ? DistinguishedName(peer) : "";
                if (name != authorization.Identity) throw new AuthenticationException(refusal = $"TLS x509 authz check for {name} is denied");
            }
            return ssl;
        }
        catch (AuthenticationException e)
        {
            ssl.Dispose();
            throw new IOException(refusal ?? $"TLS handshake failed: {Innermost(e)}", e);
        }
        catch
        {
            ssl.Dispose();
            throw;
        }
    }

    /// <summary>Why the peer's certificate is refused (qemu's reasons), or null when it is accepted.</summary>
    private static string? Refusal(X509Credentials credentials, X509Certificate? presented, X509Chain? received, string? mismatchedHost)
    {
        if (!credentials.VerifyPeer) return null;
        if (presented == null) return "No certificate peer";
        var certificate = presented as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(credentials.Authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (received != null)
        {
            foreach (var element in received.ChainElements) chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        }
        if (!chain.Build(certificate))
        {
            var status = chain.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s.Status);
            if (status.HasFlag(X509ChainStatusFlags.NotTimeValid))
                return certificate.NotAfter < DateTime.Now ? "The certificate has expired" : "The certificate is not yet activated";
            if (status.HasFlag(X509ChainStatusFlags.Revoked)) return "The certificate has been revoked";
            if ((status & (X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain)) != 0) return "The certificate hasn't got a known issuer";
            return "The certificate is not trusted";
        }
        return mismatchedHost != null ? $"Certificate does not match the hostname {mismatchedHost}" : null;
    }

    /// <summary>The certificate's subject as gnutls prints it for authz (RFC 4514: most specific first, no spaces).</summary>
    private static string DistinguishedName(X509Certificate certificate)
    {
        var subject = (certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData())).SubjectName;
        return string.Join(',', subject.EnumerateRelativeDistinguishedNames()
            .Select(rdn => $"{ShortName(rdn.GetSingleElementType().FriendlyName, rdn.GetSingleElementType().Value)}={rdn.GetSingleElementValue()}"));
    }

    private static string ShortName(string? friendly, string? oid) => oid switch
    {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "EMAIL",
        _ => friendly ?? oid ?? "",
    };

    private static string Innermost(Exception e)
    {
        while (e.InnerException != null) e = e.InnerException;
        return e.Message;
    }
}
