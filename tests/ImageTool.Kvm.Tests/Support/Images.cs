namespace ImageTool.Kvm.Tests.Support;

/// <summary>Disk images for guests: a raw base with chosen sectors, optionally under an overlay made by qemu-img.</summary>
public static class Images
{
    /// <summary>A raw image of <paramref name="size"/> bytes with the given 512-byte sectors filled in.</summary>
    public static void WriteRaw(string path, long size, params (long Sector, byte[] Data)[] sectors)
    {
        using var f = File.Create(path);
        f.SetLength(size);
        foreach (var (sector, data) in sectors)
        {
            f.Position = sector * 512;
            f.Write(data);
        }
    }

    public static byte[] Text(string s) => System.Text.Encoding.ASCII.GetBytes(s + "\0");

    /// <summary>
    /// The disk the guest gets: the raw base itself ("raw"), or an overlay of that format over it made with
    /// qemu-img. Formats this build cannot open yet are skipped.
    /// </summary>
    public static string Disk(TempDir dir, string baseImage, string format)
    {
        if (format == "raw") return baseImage;
        if (DiskImage.FindFormat(format) == null) Assert.Ignore($"format {format} is not in this build yet");
        string overlay = dir["overlay." + format];
        string baseFormat = "raw";
        if (format == "vmdk")
        {
            // vmdk parents must be vmdk: the chain is raw copy -> vmdk base -> vmdk overlay.
            string vmdkBase = dir["base-of-overlay.vmdk"];
            Tools.QemuImg("convert", "-O", "vmdk", baseImage, vmdkBase).Ok();
            (baseImage, baseFormat) = (vmdkBase, "vmdk");
        }
        Tools.QemuImg("create", "-q", "-f", format, "-b", baseImage, "-F", baseFormat, overlay).Ok();
        return overlay;
    }

    /// <summary>The guest-visible bytes of an image, read by qemu-img (the oracle), not by ImageTool.</summary>
    public static byte[] ReadWithQemu(TempDir dir, string image)
    {
        string flat = dir["flat-" + Path.GetFileName(image) + ".raw"];
        Tools.QemuImg("convert", "-O", "raw", image, flat).Ok();
        return File.ReadAllBytes(flat);
    }

    public static string Sector(byte[] disk, long sector, int length) =>
        System.Text.Encoding.ASCII.GetString(disk, (int)(sector * 512), length);
}
