using System.Text;
using ImageTool.Info;
using ImageTool.Options;

namespace ImageTool.Rbd;

/// <summary>
/// Which RBD image an <c>rbd:</c> name or <c>driver=rbd</c> options designate: pool, namespace, image, snapshot,
/// and how to reach the cluster (ceph.conf, client id, other Ceph options set on the connection), parsed as
/// qemu 7.2's rbd driver does (<c>rbd:pool[/namespace]/image[@snap][:conf=F][:id=U][:option=value...]</c>,
/// <c>\</c> escapes the next character).
/// </summary>
internal sealed record RbdSpec(string Pool, string Namespace, string Image, string? Snapshot, string? Conf, string? User,
    IReadOnlyList<KeyValuePair<string, string>> Settings)
{
    public const string Prefix = "rbd:";

    /// <summary>Whether the name came from <c>--image-opts</c> without a namespace (qemu then leaves it out of the node name).</summary>
    public bool NamespaceGiven { get; init; } = true;

    public static bool IsRbdName(string name) => name.StartsWith(Prefix, StringComparison.Ordinal);

    public static RbdSpec Parse(string name)
    {
        if (!IsRbdName(name)) throw new ImageFormatException("File name must start with 'rbd:'");
        string? rest = name[Prefix.Length..];
        string pool = NextToken(ref rest, '/');
        if (rest == null) throw new ImageFormatException("Pool name is required");
        string image;
        string? snapshot = null;
        if (rest.Contains('@'))
        {
            image = NextToken(ref rest, '@');
            snapshot = Unescape(NextToken(ref rest, ':'));
        }
        else
        {
            image = NextToken(ref rest, ':');
        }
        string ns = "";
        if (image.Contains('/'))
        {
            string? imageRest = image;
            ns = Unescape(NextToken(ref imageRest, '/'));
            image = imageRest ?? "";
        }
        string? conf = null, user = null;
        var settings = new List<KeyValuePair<string, string>>();
        while (rest != null)
        {
            string key = Unescape(NextToken(ref rest, '='));
            if (rest == null) throw new ImageFormatException($"conf option {key} has no value");
            string value = Unescape(NextToken(ref rest, ':'));
            if (key == "conf") conf = value;
            else if (key == "id") user = value;
            else settings.Add(new(key, value));
        }
        return new RbdSpec(Unescape(pool), ns, Unescape(image), snapshot, conf, user, settings);
    }

    /// <summary>qemu's <c>driver=rbd</c> options under <paramref name="prefix"/> ("" or "file.").</summary>
    public static RbdSpec FromOptions(ImageOptions options, string prefix)
    {
        string? Get(string key) => options.GetString(prefix + key);
        string pool = Get("pool") ?? throw new ImageFormatException("Parameter 'pool' is missing");
        string image = Get("image") ?? throw new ImageFormatException("Parameter 'image' is missing");
        string? ns = Get("namespace");
        return new RbdSpec(pool, ns ?? "", image, Get("snapshot"), Get("conf"), Get("user"), [])
        {
            NamespaceGiven = ns != null,
        };
    }

    // qemu_rbd_next_tok: the text up to the first unescaped delimiter; rest is what follows it, or null.
    private static string NextToken(ref string? rest, char delimiter)
    {
        string text = rest!;
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\' && i + 1 < text.Length)
            {
                i++;
                continue;
            }
            if (text[i] == delimiter)
            {
                rest = text[(i + 1)..];
                return text[..i];
            }
        }
        rest = null;
        return text;
    }

    private static string Unescape(string text)
    {
        var sb = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\' && i + 1 < text.Length) i++;
            sb.Append(text[i]);
        }
        return sb.ToString();
    }

    private static string Escape(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            if (c is '\\' or ':' or '@' or '/' or '=') sb.Append('\\');
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>The <c>rbd:</c> name that parses back to this spec (how --image-opts reach the protocol).</summary>
    public string ToName()
    {
        var sb = new StringBuilder(Prefix).Append(Escape(Pool)).Append('/');
        if (Namespace.Length != 0) sb.Append(Escape(Namespace)).Append('/');
        sb.Append(Escape(Image));
        if (Snapshot != null) sb.Append('@').Append(Escape(Snapshot));
        if (Conf != null) sb.Append(":conf=").Append(Escape(Conf));
        if (User != null) sb.Append(":id=").Append(Escape(User));
        foreach (var (key, value) in Settings) sb.Append(':').Append(Escape(key)).Append('=').Append(Escape(value));
        if (!NamespaceGiven) sb.Append(":" + NoNamespaceMarker);
        return sb.ToString();
    }

    // An --image-opts name without namespace keeps that fact through its rbd: form (never a Ceph option).
    private const string NoNamespaceMarker = "x-img-no-namespace=1";

    /// <summary>Parses a name made by <see cref="ToName"/> or given by the user.</summary>
    public static RbdSpec ParseName(string name)
    {
        var spec = Parse(name);
        int marker = -1;
        for (int i = 0; i < spec.Settings.Count; i++)
            if (spec.Settings[i].Key + "=" + spec.Settings[i].Value == NoNamespaceMarker) marker = i;
        if (marker < 0) return spec;
        var settings = spec.Settings.Where((_, i) => i != marker).ToList();
        return spec with { Settings = settings, NamespaceGiven = false };
    }

    /// <summary>
    /// qemu's name of the rbd node: <c>json:{"pool": ..., "image": ..., "driver": "rbd", ...}</c> in its hash order;
    /// Ceph options given as <c>:key=value</c> are not shown.
    /// </summary>
    public string JsonName => "json:" + JsonObject();

    /// <summary>The node name of a format on top of this image: <c>json:{"driver": "raw", "file": {...}}</c>.</summary>
    public string JsonNameUnder(string format)
    {
        var members = new List<KeyValuePair<string, string>> { new("driver", Quote(format)), new("file", JsonObject()) };
        return "json:" + Render(members);
    }

    private string JsonObject()
    {
        var members = new List<KeyValuePair<string, string>> { new("pool", Quote(Pool)), new("image", Quote(Image)) };
        if (Snapshot != null) members.Add(new("snapshot", Quote(Snapshot)));
        if (Conf != null) members.Add(new("conf", Quote(Conf)));
        members.Add(new("driver", Quote("rbd")));
        if (NamespaceGiven) members.Add(new("namespace", Quote(Namespace)));
        if (User != null) members.Add(new("user", Quote(User)));
        return Render(members);
    }

    private static string Render(List<KeyValuePair<string, string>> members) =>
        "{" + string.Join(", ", members.Select((m, i) => (m, i)).OrderBy(x => QemuHash.Bucket(x.m.Key)).ThenByDescending(x => x.i)
            .Select(x => $"{Quote(x.m.Key)}: {x.m.Value}")) + "}";

    private static string Quote(string text)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in text)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case < ' ': sb.Append($"\\u{(int)c:x4}"); break;
                default: sb.Append(c); break;
            }
        }
        return sb.Append('"').ToString();
    }
}
