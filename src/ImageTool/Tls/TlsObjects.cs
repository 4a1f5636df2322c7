using ImageTool.Options;

namespace ImageTool.Tls;

/// <summary>
/// The TLS objects of <c>--object</c> (tls-creds-x509, authz-simple) by id. qemu keeps user-created objects in
/// one process-wide tree and drivers look them up by id (<c>tls-creds=ID</c>, <c>--tls-authz=ID</c>); this is
/// that tree for the objects that are not secrets.
/// </summary>
internal static class TlsObjects
{
    private static readonly Dictionary<string, object> s_objects = new(StringComparer.Ordinal);
    private static readonly Lock s_lock = new();

    /// <summary>Whether <paramref name="type"/> (an --object's qom-type) is one this registry makes.</summary>
    public static bool Makes(string type) => type is "tls-creds-x509" or "authz-simple";

    /// <summary>Creates the object of a parsed --object definition (files are read now, as qemu does).</summary>
    public static void Add(ImageOptions definition)
    {
        string id = definition.GetString("id") ?? throw new ArgumentException("Parameter 'id' is missing");
        object made = definition.GetString("qom-type") == "authz-simple"
            ? new SimpleAuthorization(definition.GetString("identity") ?? throw new ArgumentException("Parameter 'identity' is missing"))
            : X509Credentials.FromObject(definition);
        lock (s_lock)
        {
            if (!s_objects.TryAdd(id, made)) throw new ArgumentException($"attempt to add duplicate property '{id}' to object (type 'container')");
        }
    }

    /// <summary>The credentials <paramref name="id"/> names, checked for the endpoint they are used as (qemu's errors).</summary>
    public static X509Credentials Credentials(string id, bool server)
    {
        object? found;
        lock (s_lock) s_objects.TryGetValue(id, out found);
        if (found == null) throw new ImageFormatException($"No TLS credentials with id '{id}'");
        if (found is not X509Credentials credentials) throw new ImageFormatException($"Object with id '{id}' is not TLS credentials");
        if (credentials.IsServer != server)
            throw new ImageFormatException($"Expected TLS credentials for a {(server ? "server" : "client")} endpoint");
        return credentials;
    }

    /// <summary>The authz-simple object <paramref name="id"/> names.</summary>
    public static SimpleAuthorization Authorization(string id)
    {
        object? found;
        lock (s_lock) s_objects.TryGetValue(id, out found);
        return found as SimpleAuthorization ?? throw new ImageFormatException($"No authorization object with id '{id}'");
    }
}
