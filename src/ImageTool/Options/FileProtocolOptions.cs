namespace ImageTool.Options;

/// <summary>Options of qemu's 'file' protocol driver, which <c>-o help FILE</c> lists beside a format's own.</summary>
internal static class FileProtocolOptions
{
    public static readonly OptionSpec Nocow = new("nocow", OptionType.Bool, "Turn off copy-on-write (valid only on btrfs)", Protocol: true);
    public static readonly OptionSpec Preallocation = new("preallocation", OptionType.String, "Preallocation mode (allowed values: off, falloc, full)", Protocol: true);
    public static readonly OptionSpec ExtentSizeHint = new("extent_size_hint", OptionType.Size, "Extent size hint for the image file, 0 to disable", Protocol: true);

    public static readonly IReadOnlyList<OptionSpec> All = [Nocow, Preallocation, ExtentSizeHint];

    public static readonly OptionSpec Size = new("size", OptionType.Size, "Virtual disk size");
}
