using System.Globalization;
using System.Text;

namespace ImageTool.Info;

/// <summary>
/// qemu-img's human dump of a value tree (the "Format specific information:" block): 4 spaces per level,
/// '-' in keys printed as spaces, lists as "[i]:".
/// </summary>
internal static class HumanTreeWriter
{
    public static void WriteObject(StringBuilder sb, InfoObject obj, int depth)
    {
        foreach (var (key, value) in QemuHash.Order(obj.Members))
            WriteEntry(sb, key.Replace('-', ' '), value, depth);
    }

    private static void WriteEntry(StringBuilder sb, string label, InfoNode value, int depth)
    {
        sb.Append(' ', depth * 4).Append(label).Append(':');
        switch (value)
        {
            case InfoObject o:
                sb.Append('\n');
                WriteObject(sb, o, depth + 1);
                break;
            case InfoList l:
                sb.Append('\n');
                for (int i = 0; i < l.Items.Count; i++)
                    WriteEntry(sb, $"[{i}]", l.Items[i], depth + 1);
                break;
            default:
                sb.Append(' ').Append(Scalar(value)).Append('\n');
                break;
        }
    }

    private static string Scalar(InfoNode node) => node switch
    {
        InfoString s => s.Value,
        InfoNumber n => n.Value.ToString(CultureInfo.InvariantCulture),
        InfoBool b => b.Value ? "true" : "false",
        _ => "",
    };
}
