using System.Text;

namespace ImageTool.Options;

/// <summary>qemu's <c>--object secret,id=ID,data=...|file=...[,format=raw|base64]</c>: secrets by id.</summary>
internal static class SecretObjects
{
    /// <summary>The secret named <paramref name="id"/>, with qemu's error when there is none.</summary>
    internal static string Lookup(IReadOnlyDictionary<string, string>? secrets, string id) =>
        secrets != null && secrets.TryGetValue(id, out var value) ? value : throw new ImageFormatException($"No secret with id '{id}'");

    public static void Add(IDictionary<string, string> secrets, string objectDefinition)
    {
        var o = new ImageOptions().Parse(objectDefinition, implicitKey: "qom-type");
        string type = o.GetString("qom-type") ?? "";
        if (Tls.TlsObjects.Makes(type))
        {
            Tls.TlsObjects.Add(o);
            return;
        }
        if (type != "secret") throw new ArgumentException($"invalid object type: {type}");
        string id = o.GetString("id") ?? throw new ArgumentException("Parameter 'id' is missing");
        string? data = o.GetString("data");
        string? file = o.GetString("file");
        if ((data == null) == (file == null))
            throw new ArgumentException("'file' and 'data' are mutually exclusive and one of them is required");
        if (file != null)
        {
            try { data = File.ReadAllText(file); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ArgumentException($"Unable to read {file}: {e.Message}", e);
            }
        }
        if (o.GetString("format") == "base64") data = Encoding.UTF8.GetString(Convert.FromBase64String(data!));
        secrets[id] = data!;
    }
}
