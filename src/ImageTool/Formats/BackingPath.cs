namespace ImageTool.Formats;

/// <summary>qemu's rule for backing names: relative names are joined to the overlay's directory, textually.</summary>
internal static class BackingPath
{
    public static string Resolve(string overlayPath, string backingName)
    {
        if (Path.IsPathRooted(backingName) || backingName.Contains("://", StringComparison.Ordinal)) return backingName;
        int slash = overlayPath.LastIndexOf('/');
        return slash < 0 ? backingName : overlayPath[..(slash + 1)] + backingName;
    }
}
