namespace ImageTool.Options;

/// <summary>One <c>-o</c> option a format accepts.</summary>
/// <param name="Name">Option name as qemu spells it.</param>
/// <param name="Type">Value type; decides parsing and how the Formatting line prints it.</param>
/// <param name="Help">The text <c>-o help</c> prints.</param>
/// <param name="Default">Printed on the Formatting line when the option was not given; null = not printed.</param>
/// <param name="Protocol">A file-protocol option (qemu lists it only when -o help is given a filename).</param>
internal sealed record OptionSpec(string Name, OptionType Type, string Help, string? Default = null, bool Protocol = false);

/// <summary>How an option's value is parsed and printed.</summary>
internal enum OptionType
{
    /// <summary>Text, printed quoted on the Formatting line.</summary>
    String,
    /// <summary>on/off.</summary>
    Bool,
    /// <summary>An integer.</summary>
    Number,
    /// <summary>Bytes, with qemu's k/M/G/T/P/E suffixes.</summary>
    Size,
}
