using System.Globalization;

namespace ImageTool.Info;

/// <summary>
/// A QAPI-like value tree (qemu's QObject): objects, lists, strings, integers, booleans. Format-specific
/// info and every JSON report are built from it, so one writer prints both qemu's JSON and its human tree.
/// </summary>
public abstract record InfoNode
{
    public static InfoNode Of(string value) => new InfoString(value);
    public static InfoNode Of(long value) => new InfoNumber(value);
    public static InfoNode Of(ulong value) => new InfoNumber(value);
    public static InfoNode Of(bool value) => new InfoBool(value);
}

public sealed record InfoString(string Value) : InfoNode;

public sealed record InfoNumber(decimal Value) : InfoNode
{
    public override string ToString() => Value.ToString(CultureInfo.InvariantCulture);
}

public sealed record InfoBool(bool Value) : InfoNode;

public sealed record InfoList(IReadOnlyList<InfoNode> Items) : InfoNode;

/// <summary>An object; members are printed in qemu's hash order whatever order they are added in.</summary>
public sealed record InfoObject : InfoNode
{
    private readonly List<KeyValuePair<string, InfoNode>> _members = [];

    public IReadOnlyList<KeyValuePair<string, InfoNode>> Members => _members;

    public InfoObject Add(string key, InfoNode? value)
    {
        if (value != null) _members.Add(new(key, value));
        return this;
    }

    public InfoObject Add(string key, string? value) => value == null ? this : Add(key, Of(value));
    public InfoObject Add(string key, long value) => Add(key, Of(value));
    public InfoObject Add(string key, bool value) => Add(key, Of(value));
}
