using System.Buffers.Binary;
using System.Numerics;
using ImageTool.IO;
using ImageTool.Operations;
using ImageTool.Options;

namespace ImageTool.Formats.Qcow2;

/// <summary>qcow2 (QEMU copy-on-write v2/v3): probe, open and create as qemu-img 7.2 does.</summary>
internal sealed class Qcow2Format : IImageFormat, IAmendableFormat, IMeasurableFormat
{
    public static readonly Qcow2Format Instance = new();

    public string Name => "qcow2";

    public bool SupportsCompressedWrites => true;

    public int ProbeSize => 8;

    public int Probe(ReadOnlySpan<byte> header) =>
        header.Length >= 8 && BinaryPrimitives.ReadUInt32BigEndian(header) == Qcow2Header.Magic
        && BinaryPrimitives.ReadUInt32BigEndian(header[4..]) >= 2 ? 100 : 0;

    // qemu's qcow2_create_opts order; defaults as the "Formatting" line prints them.
    public IReadOnlyList<OptionSpec> CreateOptions { get; } =
    [
        new("encryption", OptionType.Bool, "Encrypt the image with format 'aes'. (Deprecated in favor of encrypt.format=aes)"),
        new("encrypt.format", OptionType.String, "Encrypt the image, format choices: 'aes', 'luks'"),
        new("encrypt.key-secret", OptionType.String, "ID of secret providing qcow AES key or LUKS passphrase"),
        new("encrypt.cipher-alg", OptionType.String, "Name of encryption cipher algorithm"),
        new("encrypt.cipher-mode", OptionType.String, "Name of encryption cipher mode"),
        new("encrypt.ivgen-alg", OptionType.String, "Name of IV generator algorithm"),
        new("encrypt.ivgen-hash-alg", OptionType.String, "Name of IV generator hash algorithm"),
        new("encrypt.hash-alg", OptionType.String, "Name of encryption hash algorithm"),
        new("encrypt.iter-time", OptionType.Number, "Time to spend in PBKDF in milliseconds"),
        new("cluster_size", OptionType.Size, "qcow2 cluster size", "65536"),
        new("extended_l2", OptionType.Bool, "Extended L2 tables", "off"),
        new("preallocation", OptionType.String, "Preallocation mode (allowed values: off, metadata, falloc, full)"),
        new("compression_type", OptionType.String, "Compression method used for image cluster compression", "zlib"),
        FileProtocolOptions.Size,
        new("compat", OptionType.String, "Compatibility level (v2 [0.10] or v3 [1.1])"),
        new("backing_file", OptionType.String, "File name of a base image"),
        new("backing_fmt", OptionType.String, "Image format of the base image"),
        new("data_file", OptionType.String, "File name of an external data file"),
        new("data_file_raw", OptionType.Bool, "The external data file must stay valid as a raw image"),
        new("lazy_refcounts", OptionType.Bool, "Postpone refcount updates", "off"),
        new("refcount_bits", OptionType.Number, "Width of a reference count entry in bits", "16"),
        FileProtocolOptions.Nocow,
        FileProtocolOptions.ExtentSizeHint,
    ];

    public IReadOnlyList<OptionSpec> AmendOptions => Qcow2Image.AmendSchema;

    public IImage Open(string path, OpenOptions options) => Qcow2Image.Open(HostFile.Open(path, options), this, options);

    public MeasureResult Measure(ImageOptions options, long? size, IImage? source, CancellationToken cancellationToken) =>
        Qcow2Measure.Measure(options, size, source, cancellationToken);

    public void Create(string path, CreateParameters parameters)
    {
        var o = parameters.Options;
        int version = o.GetString("compat") switch
        {
            null or "1.1" or "v3" => 3,
            "0.10" or "v2" => 2,
            var v => throw new ImageFormatException($"Parameter 'version' does not accept value '{v}'"),
        };
        QemuDriverNames.ValidateBackingFormat(parameters.BackingFormat);
        long clusterSize = o.GetSize("cluster_size") ?? 65536;
        if (clusterSize is < 512 or > 2 << 20 || !BitOperations.IsPow2(clusterSize))
            throw new ImageFormatException("Cluster size must be a power of two between 512 and 2048k");
        string preallocation = o.GetString("preallocation") ?? "off";
        if (preallocation is not ("off" or "metadata" or "falloc" or "full"))
            throw new ImageFormatException($"Parameter 'preallocation' does not accept value '{preallocation}'");
        string compression = o.GetString("compression_type") ?? "zlib";
        if (compression is not ("zlib" or "zstd"))
            throw new ImageFormatException($"Parameter 'compression-type' does not accept value '{compression}'");
        bool lazy = o.GetBool("lazy_refcounts") ?? false;
        long refcountBits = o.GetNumber("refcount_bits") ?? 16;
        if (refcountBits is < 1 or > 64 || !BitOperations.IsPow2(refcountBits))
            throw new ImageFormatException("Refcount width must be a power of two and may not exceed 64 bits");
        if (version < 3 && refcountBits != 16)
            throw new ImageFormatException("Different refcount widths than 16 bits require compatibility level 1.1 or above (use version=v3 or greater)");
        if (version < 3 && lazy)
            throw new ImageFormatException("Lazy refcounts only supported with compatibility level 1.1 and above (use version=v3 or greater)");
        if (version < 3 && compression != "zlib")
            throw new ImageFormatException("Non-zlib compression type is only supported with compatibility level 1.1 and above (use version=v3 or greater)");
        bool extendedL2 = o.GetBool("extended_l2") ?? false;
        if (extendedL2 && clusterSize < 16384)
            throw new ImageFormatException("Extended L2 entries are only supported with cluster sizes of at least 16384 bytes");
        if (extendedL2 && version < 3)
            throw new ImageFormatException("Extended L2 entries are only supported with compatibility level 1.1 and above (use version=v3 or greater)");
        string? dataFile = o.GetString("data_file");
        bool dataFileRaw = o.GetBool("data_file_raw") ?? false;
        if (dataFileRaw && dataFile == null)
            throw new ImageFormatException("data-file-raw requires data-file");
        if (dataFileRaw && parameters.BackingFile != null)
            throw new ImageFormatException("Backing file and data-file-raw cannot be used at the same time");
        if (dataFile != null && version < 3)
            throw new ImageFormatException("External data files are only supported with compatibility level 1.1 and above (use version=v3 or greater)");
        if (parameters.BackingFile != null && preallocation != "off" && !extendedL2)
            throw new ImageFormatException("Backing file and preallocation can only be used at the same time if extended_l2 is on");
        var (encryptFormat, password, iterTime, cipher, hash) = EncryptionOptions(o, parameters.Secrets);
        // A raw data file must read right as it is, so every cluster is mapped to its guest offset up front.
        if (dataFileRaw && preallocation == "off") preallocation = "metadata";

        long size = (parameters.Size + 511) & ~511L;
        var header = new Qcow2Header
        {
            Version = (uint)version,
            ClusterBits = BitOperations.Log2((ulong)clusterSize),
            RefcountOrder = BitOperations.Log2((ulong)refcountBits),
            HeaderLength = (uint)(version == 3 ? Qcow2Header.V3Length : Qcow2Header.V2Length),
            CompatibleFeatures = lazy ? Qcow2Header.CompatLazyRefcounts : 0,
            IncompatibleFeatures = (compression == "zstd" ? Qcow2Header.IncompatCompression : 0)
                | (extendedL2 ? Qcow2Header.IncompatExtendedL2 : 0) | (dataFile != null ? Qcow2Header.IncompatDataFile : 0),
            AutoclearFeatures = dataFileRaw ? Qcow2Header.AutoclearDataFileRaw : 0,
            DataFile = dataFile,
            CompressionType = compression == "zstd" ? Qcow2Compression.Zstd : Qcow2Compression.Zlib,
            RefcountTableOffset = (ulong)clusterSize,
            RefcountTableClusters = 1,
            BackingFile = parameters.BackingFile,
            BackingFormat = parameters.BackingFormat,
        };
        if (dataFile != null)
        {
            // As qemu: the data file is (re)created as an empty raw image of the full size.
            // A relative name is relative to the working directory, as in qemu-img 7.2 (for opening too).
            using var data = HostFile.Create(dataFile);
            data.SetLength(size);
        }
        using (var file = HostFile.Create(path))
        {
            // Like qemu: header, refcount table, one refcount block for these three clusters; L1 comes with the size.
            file.Write(0, header.Write());
            var table = new byte[clusterSize];
            BinaryPrimitives.WriteUInt64BigEndian(table, (ulong)clusterSize * 2);
            file.Write(clusterSize, table);
            var block = new byte[clusterSize];
            for (int c = 0; c < 3; c++) Qcow2Refcounts.SetEntry(block, header.RefcountOrder, c, 1);
            file.Write(clusterSize * 2, block);
        }
        using var image = Qcow2Image.Open(HostFile.Open(path, readOnly: false), this, new OpenOptions { ReadOnly = false }, dataFile);
        image.InitializeSize(size, preallocation);
        if (encryptFormat != null) image.InitializeEncryption(encryptFormat, password!, iterTime, cipher, hash);
        image.Flush();
    }

    /// <summary>encrypt.* / encryption=on as qemu validates them; LUKS with the ciphers <see cref="Crypto.LuksCipherSpec"/> allows.</summary>
    private static (string? Format, string? Password, int IterTime, Crypto.LuksCipherSpec? Cipher, string Hash) EncryptionOptions(
        ImageOptions o, IReadOnlyDictionary<string, string>? secrets)
    {
        string? format = o.GetString("encrypt.format");
        if (o.GetBool("encryption") == true)
        {
            if (format != null && format != "aes")
                throw new ImageFormatException("Encryption option 'encryption=on' and 'encrypt.format' are mutually exclusive");
            format = "aes";
        }
        if (format == null) return (null, null, 0, null, "");
        if (format is not ("aes" or "luks")) throw new ImageFormatException($"Parameter 'format' does not accept value '{format}'");
        string secretId = o.GetString("encrypt.key-secret")
            ?? throw new ImageFormatException("Parameter 'encrypt.key-secret' is required for cipher");
        string password = Options.SecretObjects.Lookup(secrets, secretId);
        Crypto.LuksCipherSpec? cipher = null;
        string hash = o.GetString("encrypt.hash-alg") ?? "sha256";
        if (format == "luks")
        {
            cipher = Crypto.LuksCipherSpec.FromOptions(o.GetString("encrypt.cipher-alg"), o.GetString("encrypt.cipher-mode"),
                o.GetString("encrypt.ivgen-alg"), o.GetString("encrypt.ivgen-hash-alg"));
            Crypto.LuksVolume.Hash(hash, "hash-alg");
        }
        long iterTime = o.GetNumber("encrypt.iter-time") ?? Crypto.LuksVolume.DefaultIterTimeMs;
        if (iterTime is < 1 or > int.MaxValue) throw new ImageFormatException("Parameter 'encrypt.iter-time' expects a positive number");
        return (format, password, (int)iterTime, cipher, hash);
    }
}
