namespace ImageTool.Options;

/// <summary>One <c>-o</c> option a format accepts.</summary>
/// <param name="Name">Option name as qemu spells it.</param>
/// <param name="Type">Value type; decides parsing and how the Formatting line prints it.</param>
/// <param name="Help">The text <c>-o help</c> prints.</param>
/// <param name="Default">Printed on the Formatting line when the option was not given; null = not printed.</param>
/// <param name="Protocol">A file-protocol option (qemu lists it only when -o help is given a filename).</param>
public sealed record OptionSpec(string Name, OptionType Type, string Help, string? Default = null, bool Protocol = false);

public enum OptionType
{
    String,
    Bool,
    Number,
    Size,
}
