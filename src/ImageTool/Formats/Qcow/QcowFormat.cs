using System.Buffers.Binary;
using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Formats.Qcow;

/// <summary>qcow version 1, the predecessor of qcow2 (qemu block/qcow.c).</summary>
internal sealed class QcowFormat : IImageFormat
{
    public static readonly QcowFormat Instance = new();

    public string Name => "qcow";

    public bool SupportsCompressedWrites => true;

    public int ProbeSize => QcowHeader.Size;

    // qemu's qcow_probe: the whole header present, the magic and version 1.
    public int Probe(ReadOnlySpan<byte> header) =>
        header.Length >= QcowHeader.Size
        && BinaryPrimitives.ReadUInt32BigEndian(header) == QcowHeader.ExpectedMagic
        && BinaryPrimitives.ReadUInt32BigEndian(header[4..]) == 1 ? 100 : 0;

    // qemu's qcow_create_opts order, then the file protocol's.
    public IReadOnlyList<OptionSpec> CreateOptions { get; } =
    [
        FileProtocolOptions.Size,
        new("backing_file", OptionType.String, "File name of a base image"),
        new("backing_fmt", OptionType.String, "Format of the backing image"),
        new("encryption", OptionType.Bool, "Encrypt the image with format 'aes'. (Deprecated in favor of encrypt.format=aes)"),
        new("encrypt.format", OptionType.String, "Encrypt the image, format choices: 'aes'"),
        new("encrypt.key-secret", OptionType.String, "ID of the secret that provides the AES encryption key"),
        .. FileProtocolOptions.All,
    ];

    public IImage Open(string path, OpenOptions options)
    {
        var file = HostFile.Open(path, options);
        try
        {
            return QcowImage.Open(file, this, options);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    internal static string Secret(IReadOnlyDictionary<string, string>? secrets, string id) => SecretObjects.Lookup(secrets, id);

    /// <summary>
    /// qemu's qcow_co_create: 4 KiB clusters and 512-entry L2 tables, or 512-byte clusters and 4096-entry
    /// tables with a backing file; the name right after the header; the L1 table 8-aligned after it, in whole zero sectors.
    /// </summary>
    public void Create(string path, CreateParameters parameters)
    {
        var options = parameters.Options;
        QemuDriverNames.ValidateLegacyBackingFormat(parameters.BackingFormat);
        string? encryptFormat = options.GetString("encrypt.format");
        bool legacy = options.GetBool("encryption") ?? false;
        if (legacy && encryptFormat != null && encryptFormat != "aes")
            throw new ImageFormatException($"encrypt.format '{encryptFormat}' and encryption=on conflict");
        if (encryptFormat != null && encryptFormat != "aes") throw new ImageFormatException("Unsupported encryption format");
        bool encrypt = legacy || encryptFormat != null;
        if (encrypt)
        {
            string id = options.GetString("encrypt.key-secret")
                ?? throw new ImageFormatException("Parameter 'encrypt.key-secret' is required for cipher");
            Secret(parameters.Secrets, id);
        }
        string preallocation = options.GetString("preallocation") ?? "off";
        if (preallocation is not ("off" or "falloc" or "full"))
            throw new ImageFormatException($"Parameter 'preallocation' does not accept value '{preallocation}'");

        ulong size = ((ulong)parameters.Size + 511) & ~511UL;
        byte[] backing = parameters.BackingFile is { } name ? System.Text.Encoding.UTF8.GetBytes(name) : [];
        if (backing.Length > QcowHeader.MaxBackingNameLength) throw new ImageFormatException("Backing file name too long");
        bool hasBacking = parameters.BackingFile != null;
        int headerSize = QcowHeader.Size + backing.Length;
        int l1Offset = (headerSize + 7) & ~7;
        var header = new QcowHeader(QcowHeader.ExpectedMagic, 1, hasBacking ? QcowHeader.Size : 0UL, (uint)backing.Length, 0, size,
            (byte)(hasBacking ? 9 : 12), (byte)(hasBacking ? 12 : 9), encrypt ? QcowHeader.CryptAes : QcowHeader.CryptNone, (ulong)l1Offset);
        long l1Bytes = (header.L1Entries * 8 + 511) / 512 * 512;
        if (header.L1Entries > int.MaxValue / 8) throw new ImageFormatException("Image too large");
        var head = new byte[l1Offset + l1Bytes];
        header.Write(head);
        backing.CopyTo(head, QcowHeader.Size);
        using var file = HostFile.Create(path);
        file.Write(0, head);
        file.Flush();
    }
}
