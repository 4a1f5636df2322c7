using ImageTool.Protocols.Blkdebug;
using System.Buffers;
using System.Buffers.Binary;
using ImageTool.Crypto;
using ImageTool.Info;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// Encrypted data clusters: legacy AES (crypt_method 1, IV from the guest sector, FORMATS.md §7) and LUKS
/// (crypt_method 2: a LUKS1 header in clusters named by the 0x0537BE77 extension, its cipher (aes-xts-plain64 by
/// default) with the IV from the host sector, as qemu sets crypt_physical_offset for LUKS). Metadata stays plain. The key comes from
/// <c>encrypt.key-secret</c>; without it the image opens only for metadata (info), as in qemu.
/// </summary>
internal sealed partial class Qcow2Image
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

    private bool IsEncrypted => _header.CryptMethod != 0;

    /// <summary>Reads the LUKS header (if any) and unlocks the key when a secret is given.</summary>
    internal void SetupEncryption(OpenOptions options)
    {
        if (!IsEncrypted) return;
        if (_header.CryptMethod == CryptLuks)
        {
            _luks = ReadLuksHeader(out _, out long length);
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
        string password = LookupSecret(options.Secrets, secretId);
        if (_header.CryptMethod == CryptAes)
        {
            _aes = LegacyAesCipher.FromPassword(password);
            return;
        }
        var (areaOffset, areaLength) = LuksArea();
        LuksVolume.Validate(_luks!, areaLength);
        byte[] key = LuksVolume.Unlock(_luks!, (off, buf) => _file.Read(areaOffset + off, buf), password);
        _luksMasterKey = key;
        _luksCipher = new LuksSectorCipher(LuksCipherSpec.FromHeader(_luks!), key);
    }

    internal static string LookupSecret(IReadOnlyDictionary<string, string>? secrets, string id) =>
        secrets != null && secrets.TryGetValue(id, out var value) ? value : throw new ImageFormatException($"No secret with id '{id}'");

    /// <summary>Turns a freshly created, empty image into an encrypted one (after its L1 is laid out, as qemu orders it).</summary>
    internal void InitializeEncryption(string format, string password, int iterTimeMs, LuksCipherSpec? cipher, string hash)
    {
        lock (_lock)
        {
            if (format == "aes")
            {
                _header.CryptMethod = CryptAes;
                _aes = LegacyAesCipher.FromPassword(password);
                WriteHeader();
                return;
            }
            var (area, header, key) = LuksVolume.Create(password, iterTimeMs, cipher, hash);
            long offset = Refcounts.Allocate(ClustersFor(area.Length));
            Refcounts.FlushBlocks();
            _file.Write(offset, area);
            var ext = new byte[16];
            BinaryPrimitives.WriteInt64BigEndian(ext, offset);
            BinaryPrimitives.WriteInt64BigEndian(ext.AsSpan(8), area.Length);
            _header.OtherExtensions.Add((Qcow2Header.ExtCrypto, ext));
            _header.CryptMethod = CryptLuks;
            WriteHeader();
            _luks = header;
            _luksMasterKey = key;
            _luksCipher = new LuksSectorCipher(header.Cipher, key);
        }
    }

    private (long Offset, long Length) LuksArea()
    {
        var ext = _header.OtherExtensions.FirstOrDefault(e => e.Type == Qcow2Header.ExtCrypto).Data;
        if (ext == null || ext.Length < 16) throw new ImageCorruptException("Missing crypto header for crypt method 2");
        long offset = BinaryPrimitives.ReadInt64BigEndian(ext);
        long length = BinaryPrimitives.ReadInt64BigEndian(ext.AsSpan(8));
        if (offset <= 0 || (offset & (ClusterSize - 1)) != 0 || length < LuksHeader.Size || offset + length > _file.Length)
            throw new ImageCorruptException("Crypto header offset or length is invalid");
        return (offset, length);
    }

    private LuksHeader ReadLuksHeader(out long offset, out long length)
    {
        (offset, length) = LuksArea();
        var b = new byte[LuksHeader.Size];
        _file.Read(offset, b);
        return LuksHeader.Read(b);
    }

    private void DecryptSectors(Span<byte> data, long hostOffset, long guestOffset)
    {
        if (_luksCipher != null) _luksCipher.Decrypt(data, hostOffset / Sector);
        else if (_aes != null) _aes.Decrypt(data, data, guestOffset / Sector);
        else throw new ImageFormatException(_missingKeyMessage ?? "Parameter 'encrypt.key-secret' is required for cipher");
    }

    private void EncryptSectors(Span<byte> data, long hostOffset, long guestOffset)
    {
        if (_luksCipher != null) _luksCipher.Encrypt(data, hostOffset / Sector);
        else if (_aes != null) _aes.Encrypt(data, guestOffset / Sector);
        else throw new ImageFormatException(_missingKeyMessage ?? "Parameter 'encrypt.key-secret' is required for cipher");
    }

    /// <summary>Reads guest data stored at <paramref name="host"/>, decrypting whole sectors around it when encrypted.</summary>
    private void ReadData(long host, long guest, Span<byte> buffer)
    {
        _file.DebugEvent(BlkdebugEvent.ReadAio);
        if (!IsEncrypted)
        {
            DataFile.Read(host, buffer);
            return;
        }
        int head = (int)(host & (Sector - 1));
        int total = (head + buffer.Length + Sector - 1) & ~(Sector - 1);
        if (head == 0 && total == buffer.Length)
        {
            DataFile.Read(host, buffer);
            DecryptSectors(buffer, host, guest);
            return;
        }
        var tmp = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            var span = tmp.AsSpan(0, total);
            DataFile.Read(host - head, span);
            DecryptSectors(span, host - head, guest - head);
            span.Slice(head, buffer.Length).CopyTo(buffer);
        }
        finally { ArrayPool<byte>.Shared.Return(tmp); }
    }

    /// <summary>Writes guest data at <paramref name="host"/>; encrypted images get whole sectors (read-modify-write at the edges).</summary>
    private void WriteData(long host, long guest, ReadOnlySpan<byte> data)
    {
        if (!HasDataFile) CheckOverlap(host, data.Length);
        _file.DebugEvent(BlkdebugEvent.WriteAio);
        if (!IsEncrypted)
        {
            DataFile.Write(host, data);
            return;
        }
        int head = (int)(host & (Sector - 1));
        int total = (head + data.Length + Sector - 1) & ~(Sector - 1);
        var tmp = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            var span = tmp.AsSpan(0, total);
            if (head != 0 || total != data.Length)
            {
                ReadData(host - head, guest - head, span[..Sector]);
                if (total > Sector) ReadData(host - head + total - Sector, guest - head + total - Sector, span[(total - Sector)..]);
            }
            data.CopyTo(span[head..]);
            EncryptSectors(span, host - head, guest - head);
            DataFile.Write(host - head, span);
        }
        finally { ArrayPool<byte>.Shared.Return(tmp); }
    }

    private void DisposeEncryption()
    {
        _aes?.Dispose();
        _luksCipher?.Dispose();
    }

    /// <summary>qemu's "encrypt" member of the format-specific info.</summary>
    private InfoObject? EncryptionInfo()
    {
        if (_header.CryptMethod == CryptAes) return new InfoObject().Add("format", "aes");
        if (_header.CryptMethod != CryptLuks || _luks is not { } h) return null;
        return Luks.LuksInfo.Describe(h).Add("format", "luks");
    }
}
