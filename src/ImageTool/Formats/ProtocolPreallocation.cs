namespace ImageTool.Formats;

/// <summary>
/// The file protocol's <c>preallocation</c> option as vdi, qed and parallels pass it on in qemu 7.2: the file is
/// created with it and then rewritten from scratch by the format, so only its value is checked.
/// </summary>
internal static class ProtocolPreallocation
{
    public static void Validate(ImageTool.Options.ImageOptions options)
    {
        string value = options.GetString("preallocation") ?? "off";
        if (value is "off" or "falloc" or "full") return;
        // A PreallocMode the file driver does not implement, or no PreallocMode at all.
        throw new ImageFormatException(value == "metadata"
            ? $"Unsupported preallocation mode: {value}"
            : $"invalid parameter value: {value}");
    }
}
