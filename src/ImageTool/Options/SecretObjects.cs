using System.Text;

namespace ImageTool.Options;

/// <summary>qemu's <c>--object secret,id=ID,data=...|file=...[,format=raw|base64]</c>: secrets by id.</summary>
internal static class SecretObjects
{
    // A secret whose bytes are not UTF-8 is kept as this marker: qemu fails only when the secret is used as text
    // ("Data from secret ID is not valid UTF-8"). A lone surrogate is never the result of decoding valid UTF-8.
    private const string NotUtf8 = "\uD800";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The secret named <paramref name="id"/>, with qemu's errors when there is none or it is not text.</summary>
    internal static string Lookup(IReadOnlyDictionary<string, string>? secrets, string id)
    {
        if (secrets == null || !secrets.TryGetValue(id, out var value)) throw new ImageFormatException($"No secret with id '{id}'");
        if (value == NotUtf8) throw new ImageFormatException($"Data from secret {id} is not valid UTF-8");
        return value;
    }

    private static string Text(byte[] bytes)
    {
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException) { return NotUtf8; }
    }

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
        byte[]? fileBytes = null;
        if (file != null)
        {
            try { fileBytes = File.ReadAllBytes(file); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ArgumentException($"Unable to read {file}: {e.Message}", e);
            }
        }
        bool base64 = o.GetString("format") == "base64";
        if (fileBytes != null) data = base64 ? Encoding.ASCII.GetString(fileBytes) : Text(fileBytes);
        if (base64) data = Text(Convert.FromBase64String(data!));
        secrets[id] = data!;
    }
}
