namespace ImageTool.Kvm.Disks;

/// <summary>An opened guest disk: the image (with its backing chain) and what the guest actually uses.</summary>
internal sealed class GuestDisk : IDisposable
{
    private GuestDisk(DriveSpec spec, IImage image, IBlockDevice device)
    {
        Spec = spec;
        Image = image;
        Device = device;
    }

    public DriveSpec Spec { get; }
    public IImage Image { get; }

    /// <summary>The image itself, or the temporary qcow2 overlay above it under -snapshot (which owns the image).</summary>
    public IBlockDevice Device { get; }

    /// <summary>
    /// Opens the image and its backing chain through the library. The image is opened read-write only when the
    /// guest may write it (not a CD, not readonly=on, not -snapshot); with -snapshot it is opened read-only and
    /// a temporary qcow2 overlay takes the writes.
    /// </summary>
    public static GuestDisk Open(DriveSpec spec, bool snapshot, Action<ImageWarning>? warning)
    {
        bool snap = (snapshot || spec.Snapshot) && !spec.IsCdrom && !spec.ReadOnly;
        bool writable = !spec.IsCdrom && !spec.ReadOnly && !snap;
        var image = DiskImage.Open(spec.File, new OpenOptions { ReadOnly = !writable, Format = spec.Format, Warning = warning });
        // The library locks every file of the chain as qemu does while the images are open.
        try
        {
            IBlockDevice device = snap ? TemporaryOverlay.Create(image) : image;
            return new GuestDisk(spec, image, device);
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (!ReferenceEquals(Device, Image))
        {
            Device.Dispose(); // the overlay disposes the image below it
        }
        else
        {
            if (!Image.IsReadOnly) Image.Flush();
            Image.Dispose();
        }
    }
}
