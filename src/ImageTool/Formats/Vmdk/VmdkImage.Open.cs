using ImageTool.IO;

namespace ImageTool.Formats.Vmdk;

// Opening follows qemu's vmdk_open: a sparse file with its embedded descriptor, or a text descriptor whose
// RW extent lines name the files; then the parent hint and the CIDs from the descriptor area.
internal sealed partial class VmdkImage
{
    private static readonly string[] DescriptorTypes =
        ["monolithicFlat", "vmfs", "vmfsSparse", "seSparse", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat"];

    public static VmdkImage Open(string path, OpenOptions options, IImageFormat format)
    {
        var file = HostFile.Open(path, options);
        var extents = new List<VmdkExtent>();
        try
        {
            var head = ReadHead(file, 0);
            string? createType = null;
            long descriptorOffset;
            if (VmdkSparseHeader.HasMagic(head) || VmdkCowdHeader.HasMagic(head))
            {
                createType = OpenSparse(file, ownsFile: false, type: null, head, path, options, extents, nested: false);
                descriptorOffset = 512;
            }
            else
            {
                createType = OpenDescriptor(VmdkDescriptor.Text(head), path, options, extents);
                descriptorOffset = 0;
            }

            var area = new byte[VmdkDescriptor.Size];
            file.Read(descriptorOffset, area);
            string text = VmdkDescriptor.Text(area.AsSpan(0, area.Length - 1));
            string? hint = VmdkDescriptor.ParentFileNameHint(text);
            uint cid = VmdkDescriptor.ReadCid(text, parent: false) ?? throw new ImageFormatException("Invalid argument");
            uint parentCid = VmdkDescriptor.ReadCid(text, parent: true) ?? throw new ImageFormatException("Invalid argument");
            return new VmdkImage(file, format, extents, descriptorOffset, createType ?? "", cid, parentCid, hint);
        }
        catch
        {
            foreach (var extent in extents) extent.Dispose();
            file.Dispose();
            throw;
        }
    }

    /// <summary>qemu's vmdk_read_desc: up to 1 MiB - 1 bytes from <paramref name="offset"/>; files under 4 bytes are refused.</summary>
    private static byte[] ReadHead(HostFile file, long offset, int max = VmdkDescriptor.MaxFileSize)
    {
        long length = file.Length;
        if (length < 4) throw new ImageFormatException("File is too small, not a valid image");
        // At least one sector, so a short file still decodes as a (zero-padded) header.
        var head = new byte[Math.Max(VmdkSparseHeader.Size, Math.Min(length, max))];
        file.Read(offset, head);
        return head;
    }

    /// <summary>Opens a KDMV or COWD extent; returns the create type it implies (null for COWD).</summary>
    private static string? OpenSparse(HostFile file, bool ownsFile, string? type, byte[] head, string descriptorPath,
        OpenOptions options, List<VmdkExtent> extents, bool nested, string? createType = null)
    {
        if (VmdkCowdHeader.HasMagic(head))
        {
            extents.Add(VmdkSparseExtent.OpenCowd(file, ownsFile, type, VmdkCowdHeader.Read(head)));
            return createType;
        }
        if (!VmdkSparseHeader.HasMagic(head)) throw new ImageFormatException("Image not in VMDK format");
        var header = VmdkSparseHeader.Read(head);
        if (header.Capacity == 0 && header.DescriptorOffset != 0)
        {
            // A sparse file without data that carries a descriptor: qemu opens that descriptor instead
            // (this is why a 0-byte monolithicSparse image fails with "Unsupported image type").
            if (nested) throw new ImageFormatException($"Extent '{file.Path}' refers to another descriptor");
            if (header.DescriptorOffset > long.MaxValue / 512) throw new ImageFormatException("Invalid argument");
            var text = VmdkDescriptor.Text(ReadHead(file, (long)header.DescriptorOffset * 512));
            return OpenDescriptor(text, descriptorPath, options, extents);
        }
        var extent = VmdkSparseExtent.OpenHosted(file, ownsFile, type, header, options.ReadOnly);
        extents.Add(extent);
        return extent.IsCompressed ? "streamOptimized" : createType ?? "monolithicSparse";
    }

    private static string OpenDescriptor(string text, string descriptorPath, OpenOptions options, List<VmdkExtent> extents)
    {
        string createType = VmdkDescriptor.CreateType(text) ?? throw new ImageFormatException("invalid VMDK image descriptor");
        if (!DescriptorTypes.Contains(createType)) throw new UnsupportedFeatureException($"Unsupported image type '{createType}'");
        long totalSectors = 0;
        foreach (var line in VmdkDescriptor.ParseExtents(text))
        {
            string extentPath = line.FileName.StartsWith('/') ? line.FileName : ExtentDirectory(descriptorPath) + line.FileName;
            if (line.Type == "SESPARSE") throw new UnsupportedFeatureException("Unsupported extent type 'SESPARSE'");
            if (line.FlatOffset > long.MaxValue / 512) throw new ImageFormatException($"Invalid extent line: flat offset {line.FlatOffset}");
            var file = HostFile.Open(extentPath, options);
            try
            {
                if (line.IsFlat)
                    extents.Add(new VmdkFlatExtent(file, line.Sectors, line.Type, line.FlatOffset));
                else
                    createType = OpenSparse(file, ownsFile: true, line.Type, ReadHead(file, 0, VmdkSparseHeader.Size), descriptorPath, options,
                        extents, nested: true, createType)!;
            }
            catch
            {
                file.Dispose();
                throw;
            }
            totalSectors += extents[^1].Sectors;
            if (totalSectors > long.MaxValue / 512)
                throw new ImageFormatException("The extents add up to more than the largest possible disk");
        }
        return createType;
    }

    private static string ExtentDirectory(string descriptorPath)
    {
        try
        {
            return BackingPath.Directory(descriptorPath);
        }
        catch (ImageFormatException e)
        {
            throw new ImageFormatException($"Cannot use relative paths with VMDK descriptor file '{descriptorPath}': {e.Message}", e);
        }
    }
}
