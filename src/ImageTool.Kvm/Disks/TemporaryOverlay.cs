using ImageTool.Options;

namespace ImageTool.Kvm.Disks;

/// <summary>
/// -snapshot as qemu does it: a temporary qcow2 image backed by the disk takes every guest write. The file is
/// unlinked as soon as it is open, so it disappears at exit whatever happens, and the image stays untouched.
/// </summary>
internal static class TemporaryOverlay
{
    /// <summary>Creates the overlay above <paramref name="image"/> (opened read-only); the overlay owns it from then on.</summary>
    public static IImage Create(IImage image)
    {
        string path = Path.Combine(Path.GetTempPath(), $"img-snapshot-{Guid.NewGuid():N}.qcow2");
        var options = new ImageOptions()
            .Set("backing_file", Path.GetFullPath(image.FileName))
            .Set("backing_fmt", image.FormatName);
        try
        {
            DiskImage.Create(new CreateRequest(path, "qcow2") { Size = image.Length, Options = options, UnsafeBacking = true });
            var overlay = DiskImage.Open(path, new OpenOptions
            {
                ReadOnly = false,
                Format = "qcow2",
                OpenBacking = false,
                Cache = CacheMode.Unsafe,
            });
            overlay.AttachBacking(image);
            return overlay;
        }
        finally
        {
            File.Delete(path);
        }
    }
}
