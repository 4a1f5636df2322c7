using System.Buffers.Binary;
using ImageTool.Capabilities;
using ImageTool.Codecs;
using ImageTool.Crypto;
using ImageTool.Operations;
using ImageTool.Formats.Raw;
using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Formats.Luks;

/// <summary>
/// qemu's <c>luks</c> driver: a raw LUKS1 container (FORMATS-2.md §6), the payload after the header area encrypted sector by
/// sector with the guest sector number as IV. Header, key slots and ciphers are the ones qcow2's LUKS encryption uses
/// (<see cref="LuksVolume"/>); the secret comes from the <c>key-secret</c> option.
/// </summary>
internal sealed class LuksFormat : IImageFormat, IAmendableFormat, IMeasurableFormat
{
    public static readonly LuksFormat Instance = new();

    public string Name => "luks";

    public int ProbeSize => 8;

    // qemu's block_crypto_probe_luks: the magic and version 1 (a LUKS2 volume probes as raw).
    public int Probe(ReadOnlySpan<byte> header) =>
        LuksHeader.HasMagic(header) && BinaryPrimitives.ReadUInt16BigEndian(header[6..]) == 1 ? 100 : 0;

    // qemu 7.2's block_crypto_create_opts_luks, then the file protocol's.
    public IReadOnlyList<OptionSpec> CreateOptions { get; } =
    [
        FileProtocolOptions.Size,
        new("key-secret", OptionType.String, "ID of the secret that provides the keyslot passphrase"),
        new("cipher-alg", OptionType.String, "Name of encryption cipher algorithm"),
        new("cipher-mode", OptionType.String, "Name of encryption cipher mode"),
        new("ivgen-alg", OptionType.String, "Name of IV generator algorithm"),
        new("ivgen-hash-alg", OptionType.String, "Name of IV generator hash algorithm"),
        new("hash-alg", OptionType.String, "Name of encryption hash algorithm"),
        new("iter-time", OptionType.Number, "Time to spend in PBKDF in milliseconds"),
        .. FileProtocolOptions.All,
    ];

    /// <summary>qemu 7.2's luks amend options, in its help order.</summary>
    public IReadOnlyList<OptionSpec> AmendOptions => AmendSchema;

    /// <summary>qemu's block_crypto_measure: the header area for the chosen cipher plus the payload, all of it allocated.</summary>
    public MeasureResult Measure(ImageOptions options, long? size, IImage? source, CancellationToken cancellationToken)
    {
        var (spec, _) = Cipher(options);
        KeySecret(options);
        long payload = source?.Length ?? ((size ?? options.GetSize("size") ?? 0) + 511) / 512 * 512;
        long required = HeaderAreaBytes(spec) + payload;
        return new MeasureResult(required, required, null);
    }

    internal static readonly IReadOnlyList<OptionSpec> AmendSchema =
    [
        new("iter-time", OptionType.Number, "Time to spend in PBKDF in milliseconds"),
        new("keyslot", OptionType.Number, "Select a single keyslot to modify explicitly"),
        new("new-secret", OptionType.String, "New secret to set in the matching keyslots. Empty string to erase"),
        new("old-secret", OptionType.String, "Select all keyslots that match this password"),
        new("state", OptionType.String, "Select new state of affected keyslots (active/inactive)"),
    ];

    /// <summary>A fresh container's payload was never written: it decrypts to noise, so convert must write its zeros (qemu: no zero init).</summary>
    public bool NewImagesReadAsZeros => false;

    public IImage Open(string path, OpenOptions options) => LuksImage.Open(path, this, options);

    /// <summary>
    /// As qemu: the header area (8 slots after a 4 KiB header) and then the payload of the requested size; only the header
    /// and slot 0's key material are written, the rest stays sparse unless preallocated.
    /// </summary>
    public void Create(string path, CreateParameters parameters)
    {
        var o = parameters.Options;
        var (spec, hash) = Cipher(o);
        long iterTime = o.GetNumber("iter-time") ?? LuksVolume.DefaultIterTimeMs;
        string preallocation = Preallocation(o);
        byte[] area;
        try
        {
            string password = SecretObjects.Lookup(parameters.Secrets, KeySecret(o));
            if (iterTime > int.MaxValue || iterTime < 0)
                throw new ImageFormatException("PBKDF iterations too large to scale: Numerical result out of range");
            (area, _, _) = LuksVolume.Create(password, (int)iterTime, spec, hash);
        }
        catch (ImageFormatException)
        {
            // qemu has created the file by then and deletes it on failure, a file that was there before included (iotests 282).
            File.Delete(path);
            throw;
        }
        long size = (parameters.Size + LuksHeader.SectorSize - 1) & ~(long)(LuksHeader.SectorSize - 1);
        using var file = HostFile.Create(path);
        long total = area.Length + size;
        switch (preallocation)
        {
            case "falloc":
                file.Allocate(0, total);
                break;
            case "full":
                file.SetLength(total);
                RawFormat.ZeroFill(file, 0, total);
                break;
        }
        file.SetLength(total);
        WriteSparse(file, area);
        file.Flush();
    }

    /// <summary>Writes the non-zero 4 KiB pieces of the header area (qemu writes only the header and the active key material).</summary>
    private static void WriteSparse(HostFile file, byte[] area)
    {
        const int piece = 4096;
        for (int at = 0; at < area.Length;)
        {
            int n = Math.Min(piece, area.Length - at);
            if (!area.AsSpan(at, n).ContainsAnyExcept((byte)0))
            {
                at += n;
                continue;
            }
            int end = at + n;
            while (end < area.Length && area.AsSpan(end, Math.Min(piece, area.Length - end)).ContainsAnyExcept((byte)0))
                end += Math.Min(piece, area.Length - end);
            file.Write(at, area.AsSpan(at, end - at));
            at = end;
        }
    }

    /// <summary>The cipher and PBKDF2 hash the options ask for, with qemu's option errors.</summary>
    internal static (LuksCipherSpec Spec, string Hash) Cipher(ImageOptions o)
    {
        var spec = LuksCipherSpec.FromOptions(o.GetString("cipher-alg"), o.GetString("cipher-mode"), o.GetString("ivgen-alg"), o.GetString("ivgen-hash-alg"));
        string hash = o.GetString("hash-alg") ?? "sha256";
        LuksVolume.Hash(hash, "hash-alg");
        return (spec, hash);
    }

    internal static string KeySecret(ImageOptions? o) =>
        o?.GetString("key-secret") ?? throw new ImageFormatException("Parameter 'key-secret' is required for cipher");

    private static string Preallocation(ImageOptions o)
    {
        string mode = o.GetString("preallocation") ?? "off";
        return mode switch
        {
            "off" or "metadata" => "off", // qemu's crypto driver turns metadata into off
            "falloc" or "full" => mode,
            _ => throw new ImageFormatException($"invalid parameter value: {mode}"),
        };
    }

    /// <summary>The header area a new container with these options needs (qemu's layout: 4 KiB header, 8 slots on 4 KiB bounds).</summary>
    internal static long HeaderAreaBytes(LuksCipherSpec spec)
    {
        const int headerSectors = 4096 / LuksHeader.SectorSize;
        int slotSectors = (LuksVolume.MaterialSectors(spec.KeyBytes) + headerSectors - 1) / headerSectors * headerSectors;
        return (headerSectors + (long)slotSectors * LuksHeader.SlotCount) * LuksHeader.SectorSize;
    }
}
