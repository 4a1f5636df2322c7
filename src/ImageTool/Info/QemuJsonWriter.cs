using System.Globalization;
using System.Text;

namespace ImageTool.Info;

/// <summary>qemu's pretty JSON: 4-space indent, members in hash order, a final newline.</summary>
internal static class QemuJsonWriter
{
    public static string Write(InfoNode node)
    {
        var sb = new StringBuilder();
        WriteValue(sb, node, 0);
        sb.Append('\n');
        return sb.ToString();
    }

    private static void WriteValue(StringBuilder sb, InfoNode node, int depth)
    {
        switch (node)
        {
            case InfoString s: WriteString(sb, s.Value); break;
            case InfoNumber n: sb.Append(n.Value.ToString(CultureInfo.InvariantCulture)); break;
            case InfoBool b: sb.Append(b.Value ? "true" : "false"); break;
            case InfoList l:
                sb.Append('[');
                WriteItems(sb, l.Items.Select(i => (string?)null).Zip(l.Items), depth);
                sb.Append(']');
                break;
            case InfoObject o:
                sb.Append('{');
                WriteItems(sb, QemuHash.Order(o.Members).Select(m => ((string?)m.Key, m.Value)), depth);
                sb.Append('}');
                break;
        }
    }

    private static void WriteItems(StringBuilder sb, IEnumerable<(string? Key, InfoNode Value)> items, int depth)
    {
        bool any = false;
        foreach (var (key, value) in items)
        {
            sb.Append(any ? ",\n" : "\n");
            Indent(sb, depth + 1);
            if (key != null)
            {
                WriteString(sb, key);
                sb.Append(": ");
            }
            WriteValue(sb, value, depth + 1);
            any = true;
        }
        // qemu prints an empty container as the bracket, a newline and the indentation.
        sb.Append('\n');
        Indent(sb, depth);
    }

    private static void Indent(StringBuilder sb, int depth) => sb.Append(' ', depth * 4);

    internal static void WriteString(StringBuilder sb, string value)
    {
        sb.Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20 || c >= 0x7f) sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
