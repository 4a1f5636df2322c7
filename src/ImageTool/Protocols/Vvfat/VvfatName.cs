using System.Globalization;
using System.Text;

namespace ImageTool.Protocols.Vvfat;

/// <summary>
/// The options of qemu's vvfat protocol (a host directory shown as a FAT disk), parsed from a name
/// <c>fat:[floppy:][12:|16:|32:][rw:]DIR</c> as qemu's vvfat_parse_filename does: each marker counts wherever it
/// appears between colons, and the directory is what follows the last colon.
/// </summary>
internal sealed record VvfatName(string Directory, int FatType, bool Floppy, bool ReadWrite, string? Label = null)
{
    public const string Prefix = "fat:";

    public static bool IsVvfat(string name) => name.StartsWith(Prefix, StringComparison.Ordinal);

    public static VvfatName Parse(string name)
    {
        if (!IsVvfat(name)) throw new ImageFormatException("File name string must start with 'fat:'");
        int fatType = name.Contains(":32:", StringComparison.Ordinal) ? 32
            : name.Contains(":16:", StringComparison.Ordinal) ? 16
            : name.Contains(":12:", StringComparison.Ordinal) ? 12 : 0;
        int last = name.LastIndexOf(':');
        // qemu keeps a DOS drive letter ("fat:rw:c:\dir") with the directory.
        string dir = last >= 2 && name[last - 2] == ':' && char.IsAsciiLetter(name[last - 1]) ? name[(last - 1)..] : name[(last + 1)..];
        return new VvfatName(dir, fatType, name.Contains(":floppy:", StringComparison.Ordinal), name.Contains(":rw:", StringComparison.Ordinal));
    }

    /// <summary>The name qemu reports for the node: the raw format over the vvfat protocol, as a json: file name.</summary>
    public string JsonName => string.Create(CultureInfo.InvariantCulture,
        $"json:{{\"driver\": \"raw\", \"file\": {{\"fat-type\": {FatType}, \"dir\": {Quote(Directory)}, \"driver\": \"vvfat\", \"floppy\": {Bool(Floppy)}{(Label != null ? $", \"label\": {Quote(Label)}" : "")}, \"rw\": {Bool(ReadWrite)}}}}}");

    private static string Bool(bool value) => value ? "true" : "false";

    private static string Quote(string text)
    {
        var quoted = new StringBuilder("\"");
        foreach (char c in text)
        {
            if (c is '"' or '\\') quoted.Append('\\').Append(c);
            else if (c < ' ') quoted.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            else quoted.Append(c);
        }
        return quoted.Append('"').ToString();
    }
}
