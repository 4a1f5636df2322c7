using ImageTool.Options;

namespace ImageTool.Protocols.Quorum;

/// <summary>
/// How img names a quorum node: it has no file name of its own, so, as qemu's refreshed name, it is a
/// <c>json:{...}</c> name holding its options (the children flattened to <c>children.N.*</c>), which opens it again.
/// </summary>
internal static class QuorumName
{
    public const string DriverName = "quorum";

    /// <summary>qemu's bdrv_dirname has nothing to join relative names to below a quorum node.</summary>
    public const string NoDirectory = "Cannot generate a base directory for quorum nodes";

    public static bool Is(string name) =>
        JsonFileName.Is(name) && name.Contains("\"quorum\"", StringComparison.Ordinal) && DriverOf(name) == DriverName;

    private static string? DriverOf(string name)
    {
        try { return JsonFileName.Parse(name).GetString("driver"); }
        catch (ImageFormatException) { return null; }
    }

    /// <summary>The name of the quorum node given by the options under <paramref name="prefix"/> (<c>file.</c> or empty), or null.</summary>
    public static string? FromOptions(ImageOptions options, string prefix) =>
        options.GetString(prefix + "driver") == DriverName ? RefreshedFileName.OfNode(options, prefix, DriverName) : null;
}
