using System.Buffers.Binary;
using ImageTool.Crypto;
using ImageTool.Info;
using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// The encryption of a qcow2 image's data clusters: legacy AES (crypt_method 1, IV from the guest sector, FORMATS.md §7)
/// or LUKS (crypt_method 2: a LUKS1 header in clusters named by the 0x0537BE77 extension, its cipher (aes-xts-plain64 by
/// default) with the IV from the host sector, as qemu sets crypt_physical_offset for LUKS). Metadata stays plain. The
/// key comes from <c>encrypt.key-secret</c>; without it the image opens only for metadata (info), as in qemu.
/// </summary>
internal sealed class Qcow2Encryption(HostFile file, Qcow2Header header, Qcow2HeaderStore headerStore) : IDisposable
{
    public const int CryptAes = 1;
    public const int CryptLuks = 2;
    private const int Sector = 512;

    private LegacyAesCipher? _aes;
    private LuksSectorCipher? _luksCipher;
    private LuksHeader? _luks;
    private byte[]? _luksMasterKey;
    private IReadOnlyDictionary<string, string>? _secrets;
    private string? _missingKeyMessage;

    public bool IsEnabled => header.CryptMethod != 0;

    public bool IsLuks => header.CryptMethod == CryptLuks;

    /// <summary>Reads the LUKS header (if any) and unlocks the key when a secret is given.</summary>
    public void Open(OpenOptions options)
    {
        if (!IsEnabled) return;
        if (IsLuks)
        {
            var (offset, length) = LuksArea();
            var b = new byte[LuksHeader.Size];
            file.Read(offset, b);
            _luks = LuksHeader.Read(b);
            LuksVolume.Validate(_luks, length, forUnlock: false); // qemu checks the header even to show info
        }
        string? secretId = options.DriverOptions?.GetString("encrypt.key-secret");
        if (secretId == null)
        {
            _missingKeyMessage = "Parameter 'encrypt.key-secret' is required for cipher";
            if (!options.MetadataOnly) throw new ImageFormatException(_missingKeyMessage);
            return;
        }
        _secrets = options.Secrets; // amend looks up the secrets of new and old key slots
        string password = SecretObjects.Lookup(options.Secrets, secretId);
        if (header.CryptMethod == CryptAes)
        {
            _aes = LegacyAesCipher.FromPassword(password);
            return;
        }
        var (areaOffset, areaLength) = LuksArea();
        LuksVolume.Validate(_luks!, areaLength);
        byte[] key = LuksVolume.Unlock(_luks!, (off, buf) => file.Read(areaOffset + off, buf), password);
        _luksMasterKey = key;
        _luksCipher = new LuksSectorCipher(LuksCipherSpec.FromHeader(_luks!), key);
    }

    /// <summary>
    /// Turns a freshly created, empty image into an encrypted one (after its L1 is laid out, as qemu orders it);
    /// a LUKS header goes to clusters from <paramref name="refcounts"/>.
    /// </summary>
    public void Initialize(string format, string password, int iterTimeMs, LuksCipherSpec? cipher, string hash, Qcow2Refcounts refcounts)
    {
        if (format == "aes")
        {
            header.CryptMethod = CryptAes;
            _aes = LegacyAesCipher.FromPassword(password);
            headerStore.WriteAll();
            return;
        }
        var (area, luks, key) = LuksVolume.Create(password, iterTimeMs, cipher, hash);
        int clusterSize = 1 << header.ClusterBits;
        long offset = refcounts.Allocate((area.Length + clusterSize - 1) / clusterSize);
        refcounts.FlushBlocks();
        file.Write(offset, area);
        var ext = new byte[16];
        BinaryPrimitives.WriteInt64BigEndian(ext, offset);
        BinaryPrimitives.WriteInt64BigEndian(ext.AsSpan(8), area.Length);
        header.OtherExtensions.Add((Qcow2Header.ExtCrypto, ext));
        header.CryptMethod = CryptLuks;
        headerStore.WriteAll();
        _luks = luks;
        _luksMasterKey = key;
        _luksCipher = new LuksSectorCipher(luks.Cipher, key);
    }

    /// <summary>Adds or erases LUKS key slots; the image is open with its key (amend needs it, as in qemu).</summary>
    public void AmendKeySlots(ImageOptions options, bool force)
    {
        var amendment = LuksKeySlotAmendment.Parse(options, "encrypt.");
        var (offset, _) = LuksArea();
        amendment.Apply(_luks!, _luksMasterKey!, force, id => SecretObjects.Lookup(_secrets, id),
            (off, buf) => file.Read(offset + off, buf), (off, buf) => file.Write(offset + off, buf), file.Flush);
    }

    private (long Offset, long Length) LuksArea()
    {
        var ext = header.OtherExtensions.FirstOrDefault(e => e.Type == Qcow2Header.ExtCrypto).Data;
        if (ext == null || ext.Length < 16) throw new ImageCorruptException("Missing crypto header for crypt method 2");
        long offset = BinaryPrimitives.ReadInt64BigEndian(ext);
        long length = BinaryPrimitives.ReadInt64BigEndian(ext.AsSpan(8));
        int clusterSize = 1 << header.ClusterBits;
        if (offset <= 0 || (offset & (clusterSize - 1)) != 0 || length < LuksHeader.Size || offset + length > file.Length)
            throw new ImageCorruptException("Crypto header offset or length is invalid");
        return (offset, length);
    }

    /// <summary>Decrypts whole sectors read from <paramref name="hostOffset"/> (guest offset <paramref name="guestOffset"/>).</summary>
    public void Decrypt(Span<byte> data, long hostOffset, long guestOffset)
    {
        if (_luksCipher != null) _luksCipher.Decrypt(data, hostOffset / Sector);
        else if (_aes != null) _aes.Decrypt(data, data, guestOffset / Sector);
        else throw MissingKey();
    }

    /// <summary>Encrypts whole sectors to be written at <paramref name="hostOffset"/> (guest offset <paramref name="guestOffset"/>).</summary>
    public void Encrypt(Span<byte> data, long hostOffset, long guestOffset)
    {
        if (_luksCipher != null) _luksCipher.Encrypt(data, hostOffset / Sector);
        else if (_aes != null) _aes.Encrypt(data, guestOffset / Sector);
        else throw MissingKey();
    }

    private ImageFormatException MissingKey() => new(_missingKeyMessage ?? "Parameter 'encrypt.key-secret' is required for cipher");

    /// <summary>qemu's "encrypt" member of the format-specific info.</summary>
    public InfoObject? Info()
    {
        if (header.CryptMethod == CryptAes) return new InfoObject().Add("format", "aes");
        if (!IsLuks || _luks is not { } h) return null;
        return Luks.LuksInfo.Describe(h).Add("format", "luks");
    }

    public void Dispose()
    {
        _aes?.Dispose();
        _luksCipher?.Dispose();
    }
}
