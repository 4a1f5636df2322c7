using System.Globalization;
using System.Text.Json.Nodes;

namespace ImageTool.Info;

/// <summary>
/// A QAPI-like value tree (qemu's QObject): objects, lists, strings, integers, booleans. Format-specific
/// info and every JSON report are built from it, so one writer prints both qemu's JSON and its human tree.
/// </summary>
internal abstract record InfoNode
{
    /// <summary>A string value.</summary>
    /// <param name="value">The value.</param>
    /// <returns>The node.</returns>
    public static InfoNode Of(string value) => new InfoString(value);
    /// <summary>An integer value.</summary>
    /// <param name="value">The value.</param>
    /// <returns>The node.</returns>
    public static InfoNode Of(long value) => new InfoNumber(value);
    /// <summary>An unsigned integer value (qemu's uint64 members).</summary>
    /// <param name="value">The value.</param>
    /// <returns>The node.</returns>
    public static InfoNode Of(ulong value) => new InfoNumber(value);
    /// <summary>A boolean value.</summary>
    /// <param name="value">The value.</param>
    /// <returns>The node.</returns>
    public static InfoNode Of(bool value) => new InfoBool(value);

    /// <summary>The same value as a System.Text.Json node, members in the order they were added.</summary>
    public JsonNode ToJson() => this switch
    {
        InfoString s => JsonValue.Create(s.Value),
        InfoNumber n => JsonValue.Create(n.Value),
        InfoBool b => JsonValue.Create(b.Value),
        InfoList l => new JsonArray([.. l.Items.Select(i => i.ToJson())]),
        InfoObject o => new JsonObject(o.Members.Select(m => KeyValuePair.Create(m.Key, (JsonNode?)m.Value.ToJson()))),
        _ => throw new InvalidOperationException(GetType().Name),
    };
}

/// <summary>A string.</summary>
/// <param name="Value">The text.</param>
internal sealed record InfoString(string Value) : InfoNode;

/// <summary>A number (integers up to uint64).</summary>
/// <param name="Value">The value.</param>
internal sealed record InfoNumber(decimal Value) : InfoNode
{
    /// <summary>The number as qemu prints it (invariant culture, no exponent).</summary>
    public override string ToString() => Value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A boolean.</summary>
/// <param name="Value">The value.</param>
internal sealed record InfoBool(bool Value) : InfoNode;

/// <summary>A list.</summary>
/// <param name="Items">The elements in order.</param>
internal sealed record InfoList(IReadOnlyList<InfoNode> Items) : InfoNode;

/// <summary>An object; members are printed in qemu's hash order whatever order they are added in.</summary>
internal sealed record InfoObject : InfoNode
{
    private readonly List<KeyValuePair<string, InfoNode>> _members = [];

    /// <summary>The members in the order they were added.</summary>
    public IReadOnlyList<KeyValuePair<string, InfoNode>> Members => _members;

    /// <summary>Adds a member unless <paramref name="value"/> is null.</summary>
    /// <param name="key">The member's name.</param>
    /// <param name="value">Its value; null adds nothing.</param>
    /// <returns>This object, for chaining.</returns>
    public InfoObject Add(string key, InfoNode? value)
    {
        if (value != null) _members.Add(new(key, value));
        return this;
    }

    /// <summary>Adds a string member unless <paramref name="value"/> is null.</summary>
    /// <param name="key">The member's name.</param>
    /// <param name="value">Its value; null adds nothing.</param>
    /// <returns>This object, for chaining.</returns>
    public InfoObject Add(string key, string? value) => value == null ? this : Add(key, Of(value));
    /// <summary>Adds an integer member.</summary>
    /// <param name="key">The member's name.</param>
    /// <param name="value">Its value.</param>
    /// <returns>This object, for chaining.</returns>
    public InfoObject Add(string key, long value) => Add(key, Of(value));
    /// <summary>Adds a boolean member.</summary>
    /// <param name="key">The member's name.</param>
    /// <param name="value">Its value.</param>
    /// <returns>This object, for chaining.</returns>
    public InfoObject Add(string key, bool value) => Add(key, Of(value));
}
