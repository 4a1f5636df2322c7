namespace ImageTool.IO;

/// <summary>
/// qemu's <c>file:</c> protocol prefix on host paths: <c>file:a:b.qcow2</c> is the file <c>a:b.qcow2</c>, the way to
/// name a file whose name would otherwise read as a protocol.
/// </summary>
internal static class HostPath
{
    public const string FilePrefix = "file:";

    /// <summary>The host path a name opens: the name without its <c>file:</c> prefix.</summary>
    public static string Physical(string name) =>
        name.StartsWith(FilePrefix, StringComparison.Ordinal) ? name[FilePrefix.Length..] : name;

    /// <summary>The protocol prefix of a name (qemu's path_has_protocol: text before a colon that comes before any slash), or null.</summary>
    public static string? ProtocolPrefix(string name)
    {
        int colon = name.IndexOf(':');
        int slash = name.IndexOf('/');
        return colon >= 0 && (slash < 0 || colon < slash) ? name[..colon] : null;
    }

    /// <summary>
    /// The name qemu gives an image opened as <c>file:NAME</c>: NAME, with <c>./</c> in front when NAME would
    /// otherwise start with a protocol prefix (a colon before any slash).
    /// </summary>
    public static string Display(string name)
    {
        if (!name.StartsWith(FilePrefix, StringComparison.Ordinal)) return name;
        string path = name[FilePrefix.Length..];
        return ProtocolPrefix(path) != null ? "./" + path : path;
    }
}
