namespace ImageTool.Kvm.Network;

/// <summary>qemu's <c>key=value,...</c> option lists: a doubled comma is a literal comma; a bare word is <c>word=on</c>.</summary>
internal static class OptionList
{
    public static List<string> Split(string value)
    {
        var parts = new List<string>();
        var current = new System.Text.StringBuilder();
        for (int i = 0; i < value.Length; i++)
        {
            if (value[i] == ',' && i + 1 < value.Length && value[i + 1] == ',')
            {
                current.Append(',');
                i++;
            }
            else if (value[i] == ',')
            {
                parts.Add(current.ToString());
                current.Clear();
            }
            else current.Append(value[i]);
        }
        parts.Add(current.ToString());
        return parts;
    }

    public static IEnumerable<(string Key, string Value)> Keys(IEnumerable<string> parts)
    {
        foreach (string part in parts)
        {
            if (part.Length == 0) continue;
            int eq = part.IndexOf('=');
            yield return eq < 0 ? (part, "on") : (part[..eq], part[(eq + 1)..]);
        }
    }

    public static bool OnOff(string key, string v) => v switch
    {
        "on" or "yes" or "true" => true,
        "off" or "no" or "false" => false,
        _ => throw new ArgumentException($"Parameter '{key}' expects 'on' or 'off'"),
    };
}
