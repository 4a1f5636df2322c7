using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Formats.Qed;

/// <summary>QEMU Enhanced Disk (qemu block/qed.c, docs/interop/qed_spec.txt).</summary>
internal sealed class QedFormat : IImageFormat
{
    public static readonly QedFormat Instance = new();

    public string Name => "qed";

    public int ProbeSize => QedHeader.Size;

    // qemu's bdrv_qed_probe: the magic (its probe buffer is zero-padded past a short file's end).
    public int Probe(ReadOnlySpan<byte> header) =>
        header.Length >= 4 && System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(header) == QedHeader.ExpectedMagic ? 100 : 0;

    // qemu's qed_create_opts order, then the file protocol's.
    public IReadOnlyList<OptionSpec> CreateOptions { get; } =
    [
        FileProtocolOptions.Size,
        new("backing_file", OptionType.String, "File name of a base image"),
        new("backing_fmt", OptionType.String, "Image format of the base image"),
        new("cluster_size", OptionType.Size, "Cluster size (in bytes)", Default: "65536"),
        new("table_size", OptionType.Size, "L1/L2 table size (in clusters)"),
        .. FileProtocolOptions.All,
    ];

    public IImage Open(string path, OpenOptions options)
    {
        var file = HostFile.Open(path, options);
        try
        {
            return QedImage.Open(file, this, options);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// qemu's bdrv_qed_co_create: the header in cluster 0 with the backing file name right after it, the L1
    /// table (zeros, written) in the next table_size clusters. Only a raw backing format is recorded.
    /// </summary>
    public void Create(string path, CreateParameters parameters)
    {
        var options = parameters.Options;
        ProtocolPreallocation.Validate(options);
        QemuDriverNames.ValidateBackingFormat(parameters.BackingFormat);
        long clusterSize = options.GetSize("cluster_size") ?? QedHeader.DefaultClusterSize;
        long tableSize = options.GetSize("table_size") ?? QedHeader.DefaultTableSize;
        if (clusterSize is < 0 or > uint.MaxValue || !QedHeader.IsClusterSizeValid((uint)clusterSize))
            throw new ImageFormatException($"QED cluster size must be within range [{QedHeader.MinClusterSize}, {QedHeader.MaxClusterSize}] and power of 2");
        if (tableSize is < 0 or > uint.MaxValue || !QedHeader.IsTableSizeValid((uint)tableSize))
            throw new ImageFormatException($"QED table size must be within range [{QedHeader.MinTableSize}, {QedHeader.MaxTableSize}] and power of 2");
        ulong size = ((ulong)parameters.Size + 511) & ~511UL;
        if (!QedHeader.IsImageSizeValid(size, (uint)clusterSize, (uint)tableSize))
            throw new ImageFormatException(
                $"QED image size must be a non-zero multiple of cluster size and less than {QedHeader.MaxImageSize((uint)clusterSize, (uint)tableSize)} bytes");
        byte[] backing = parameters.BackingFile is { } name ? System.Text.Encoding.UTF8.GetBytes(name) : [];
        ulong features = 0;
        if (parameters.BackingFile != null)
        {
            features |= QedHeader.FeatureBackingFile;
            if (parameters.BackingFormat == "raw") features |= QedHeader.FeatureBackingFormatNoProbe;
        }
        var header = new QedHeader(QedHeader.ExpectedMagic, (uint)clusterSize, (uint)tableSize, 1, features, 0, 0,
            (ulong)clusterSize, size, parameters.BackingFile != null ? QedHeader.Size : 0u, (uint)backing.Length);
        var head = new byte[QedHeader.Size + backing.Length];
        header.Write(head);
        backing.CopyTo(head, QedHeader.Size);
        using var file = HostFile.Create(path);
        file.Write(0, head);
        long l1Bytes = clusterSize * tableSize;
        var zeros = new byte[Math.Min(l1Bytes, 1 << 20)];
        for (long done = 0; done < l1Bytes; done += zeros.Length)
            file.Write(clusterSize + done, zeros.AsSpan(0, (int)Math.Min(zeros.Length, l1Bytes - done)));
        file.Flush();
    }
}
