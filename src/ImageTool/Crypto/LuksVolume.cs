using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace ImageTool.Crypto;

/// <summary>
/// LUKS1 key handling as qemu does it (crypto/block-luks.c): PBKDF2 per key slot, AF-split key material encrypted with
/// the slot key, master key checked against a PBKDF2 digest. Ciphers as <see cref="LuksCipherSpec"/> allows (AES,
/// twofish, serpent, cast5 in XTS, CBC, CTR or ECB mode with plain, plain64 or ESSIV IVs); PBKDF2 and AF-split hashes SHA-1/256/384/512.
/// </summary>
internal static class LuksVolume
{
    public const int Stripes = 4000;
    public const int DefaultIterTimeMs = 2000;
    private const int MasterKeyDigestLength = 20;
    private const int SaltLength = 32;
    private const int MinIterations = 1000;
    /// <summary>Refuse hostile iteration counts that would keep an open busy for many minutes.</summary>
    private const uint MaxIterations = 1u << 28;

    // qemu 7.2's QCryptoHashAlgorithm values; the BCL's PBKDF2 has no MD5, SHA-224 or RIPEMD-160.
    private static readonly string[] QemuHashes = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512", "ripemd160"];

    /// <summary>
    /// The hash named <paramref name="spec"/>; <paramref name="option"/> names the create option it came from (errors
    /// as qemu's option parser), null when it came from a header.
    /// </summary>
    public static HashAlgorithmName Hash(string spec, string? option = null) => spec switch
    {
        "sha1" => HashAlgorithmName.SHA1,
        "sha256" => HashAlgorithmName.SHA256,
        "sha384" => HashAlgorithmName.SHA384,
        "sha512" => HashAlgorithmName.SHA512,
        _ when QemuHashes.Contains(spec) => throw new UnsupportedFeatureException($"Unsupported hash algorithm {spec}"),
        _ when option != null => throw new ImageFormatException($"Parameter '{option}' does not accept value '{spec}'"),
        _ => throw new UnsupportedFeatureException($"Hash algorithm '{spec}' not supported"),
    };

    public static int DigestLength(string spec) => spec switch
    {
        "md5" => 16,
        "sha1" or "ripemd160" => 20,
        "sha224" => 28,
        "sha256" => 32,
        "sha384" => 48,
        "sha512" => 64,
        _ => throw new UnsupportedFeatureException($"Hash algorithm '{spec}' not supported"),
    };

    public static bool IsQemuHash(string spec) => QemuHashes.Contains(spec);

    /// <summary>A one-shot digest (ESSIV keys), MD5 included.</summary>
    public static byte[] HashData(string spec, ReadOnlySpan<byte> data) => spec switch
    {
        "md5" => MD5.HashData(data),
        "sha1" => SHA1.HashData(data),
        "sha256" => SHA256.HashData(data),
        "sha384" => SHA384.HashData(data),
        "sha512" => SHA512.HashData(data),
        _ => throw new UnsupportedFeatureException($"Hash algorithm '{spec}' not supported"),
    };

    /// <summary>
    /// Checks what qemu checks when it opens a LUKS header, in its order (layout first, then the algorithms);
    /// <paramref name="areaLength"/> is the header area's size in bytes. <paramref name="forUnlock"/> also refuses
    /// algorithms qemu knows but img cannot run (info needs no key, so it shows them).
    /// </summary>
    public static void Validate(LuksHeader h, long areaLength, bool forUnlock = true)
    {
        long headerSectors = 4096 / LuksHeader.SectorSize;
        long materialSectors = (h.KeyBytes * (long)Stripes + LuksHeader.SectorSize - 1) / LuksHeader.SectorSize;
        if (h.PayloadOffsetSectors < headerSectors || (long)h.PayloadOffsetSectors * LuksHeader.SectorSize > areaLength && areaLength > 0)
            throw new ImageCorruptException("LUKS payload is overlapping with the header");
        if (h.MasterKeyIterations == 0) throw new ImageCorruptException("LUKS key iteration count is zero");
        for (int i = 0; i < LuksHeader.SlotCount; i++)
        {
            var s = h.Slots[i];
            if (s.Active is not (LuksHeader.SlotEnabled or LuksHeader.SlotDisabled))
                throw new ImageCorruptException($"Keyslot {i} state (active/disable) is corrupted");
            if (s.IsActive && s.Iterations == 0) throw new ImageCorruptException($"Keyslot {i} iteration count is zero");
            if (s.Stripes != Stripes) throw new ImageCorruptException($"Keyslot {i} is corrupted (stripes {s.Stripes} != {Stripes})");
            if (s.KeyOffsetSectors < headerSectors) throw new ImageCorruptException($"Keyslot {i} is overlapping with the LUKS header");
            if (s.KeyOffsetSectors + materialSectors > h.PayloadOffsetSectors)
                throw new ImageCorruptException($"Keyslot {i} is overlapping with the encrypted payload");
            if (forUnlock && s.IsActive && (s.Iterations > MaxIterations || h.MasterKeyIterations > MaxIterations))
                throw new ImageCorruptException($"Keyslot {i} iteration count is too large");
            for (int j = 0; j < i; j++)
            {
                long a = h.Slots[j].KeyOffsetSectors, b = s.KeyOffsetSectors;
                if (a < b + materialSectors && b < a + materialSectors)
                    throw new ImageCorruptException($"Keyslots {j} and {i} are overlapping in the header");
            }
        }
        LuksCipherSpec.FromHeader(h, forUnlock);
        if (forUnlock || !IsQemuHash(h.HashSpec)) Hash(h.HashSpec);
    }

    /// <summary>
    /// The master key for <paramref name="password"/>; <paramref name="read"/> reads bytes at an offset relative to the
    /// header's start. Throws qemu's "Invalid password, cannot unlock any keyslot" when no slot opens.
    /// </summary>
    public static byte[] Unlock(LuksHeader h, Action<long, Span<byte>> read, string password)
    {
        for (int i = 0; i < LuksHeader.SlotCount; i++)
        {
            if (TryUnlockSlot(h, i, read, password) is { } key) return key;
        }
        throw new ImageFormatException("Invalid password, cannot unlock any keyslot");
    }

    /// <summary>The master key when slot <paramref name="index"/> is active and opens with <paramref name="password"/>, else null.</summary>
    public static byte[]? TryUnlockSlot(LuksHeader h, int index, Action<long, Span<byte>> read, string password)
    {
        var slot = h.Slots[index];
        if (!slot.IsActive) return null;
        var hash = Hash(h.HashSpec);
        int keyBytes = (int)h.KeyBytes;
        int materialLength = keyBytes * Stripes;
        var material = new byte[MaterialSectors(keyBytes) * LuksHeader.SectorSize];
        byte[] slotKey = Pbkdf2.Derive(Encoding.UTF8.GetBytes(password), slot.Salt, (int)slot.Iterations, hash, keyBytes);
        read((long)slot.KeyOffsetSectors * LuksHeader.SectorSize, material);
        using (var cipher = new LuksSectorCipher(LuksCipherSpec.FromHeader(h), slotKey)) cipher.Decrypt(material, 0);
        byte[] candidate = AfSplitter.Merge(material.AsSpan(0, materialLength), keyBytes, Stripes, hash);
        byte[] digest = Pbkdf2.Derive(candidate, h.MasterKeySalt, (int)h.MasterKeyIterations, hash, MasterKeyDigestLength);
        return CryptographicOperations.FixedTimeEquals(digest, h.MasterKeyDigest) ? candidate : null;
    }

    /// <summary>
    /// The PBKDF2 iterations of a new key slot for <paramref name="iterTimeMs"/> (qemu's scaling of its benchmark,
    /// with its range errors; <paramref name="slot"/> only names the slot in them).
    /// </summary>
    public static uint SlotIterations(string hashSpec, int keyBytes, ulong iterTimeMs, int slot)
    {
        ulong perSecond = (ulong)IterationsPerSecond(Hash(hashSpec), keyBytes);
        if (iterTimeMs != 0 && perSecond > ulong.MaxValue / iterTimeMs)
            throw SlotWriteError($"PBKDF iterations {perSecond} too large to scale", slot);
        ulong iterations = perSecond * iterTimeMs / 1000;
        if (iterations > uint.MaxValue) throw SlotWriteError($"PBKDF iterations {iterations} larger than {uint.MaxValue}", slot);
        return (uint)Math.Max(iterations, MinIterations);
    }

    private static ImageFormatException SlotWriteError(string message, int slot) =>
        new($"{message}: Numerical result out of range\nFailed to write to keyslot {slot}") { EndsLine = false };

    /// <summary>
    /// A fresh key slot holding <paramref name="masterKey"/> under <paramref name="password"/> at the place of slot
    /// <paramref name="index"/>, and its encrypted key material (whole sectors) to store at the slot's key offset.
    /// </summary>
    public static (LuksKeySlot Slot, byte[] Material) SealKeySlot(LuksHeader h, int index, byte[] masterKey, string password, uint iterations)
    {
        var hash = Hash(h.HashSpec);
        int keyBytes = (int)h.KeyBytes;
        byte[] salt = RandomNumberGenerator.GetBytes(SaltLength);
        byte[] slotKey = Pbkdf2.Derive(Encoding.UTF8.GetBytes(password), salt, (int)iterations, hash, keyBytes);
        var material = new byte[MaterialSectors(keyBytes) * LuksHeader.SectorSize];
        AfSplitter.Split(masterKey, Stripes, hash).CopyTo(material, 0);
        using (var cipher = new LuksSectorCipher(LuksCipherSpec.FromHeader(h), slotKey)) cipher.Encrypt(material, 0);
        return (new LuksKeySlot(LuksHeader.SlotEnabled, iterations, salt, h.Slots[index].KeyOffsetSectors, Stripes), material);
    }

    /// <summary>Slot <paramref name="index"/> erased as qemu does it: disabled, no salt, no iterations, same place.</summary>
    public static LuksKeySlot ErasedKeySlot(LuksHeader h, int index) =>
        new(LuksHeader.SlotDisabled, 0, new byte[SaltLength], h.Slots[index].KeyOffsetSectors, h.Slots[index].Stripes);

    /// <summary>The sectors of one slot's key material (key length times 4000 stripes, rounded up).</summary>
    public static int MaterialSectors(int keyBytes) => (keyBytes * Stripes + LuksHeader.SectorSize - 1) / LuksHeader.SectorSize;

    /// <summary>
    /// A new LUKS area (header + key material, <c>PayloadOffsetSectors * 512</c> bytes) laid out as qemu does: 8 slots
    /// of 4000 stripes after a 4 KiB header, slot 0 holding <paramref name="password"/>. Returns the area and the master key.
    /// </summary>
    public static (byte[] Area, LuksHeader Header, byte[] MasterKey) Create(string password, int iterTimeMs = DefaultIterTimeMs,
        LuksCipherSpec? spec = null, string hashSpec = "sha256")
    {
        spec ??= LuksCipherSpec.Default;
        int keyBytes = spec.KeyBytes;
        var hash = Hash(hashSpec);
        byte[] masterKey = RandomNumberGenerator.GetBytes(keyBytes);
        byte[] mkSalt = RandomNumberGenerator.GetBytes(SaltLength);
        // qemu: iterations for iter-time ms, the master key digest gets 1/8 of that (as cryptsetup).
        long mkIters = Math.Max(MinIterations, IterationsPerSecond(hash, MasterKeyDigestLength) * iterTimeMs / 1000 / 8);
        byte[] digest = Pbkdf2.Derive(masterKey, mkSalt, (int)mkIters, hash, MasterKeyDigestLength);

        uint headerSectors = 4096 / LuksHeader.SectorSize;
        uint materialSectors = (uint)MaterialSectors(keyBytes);
        uint slotSectors = (materialSectors + headerSectors - 1) / headerSectors * headerSectors;
        uint payload = headerSectors + slotSectors * LuksHeader.SlotCount;

        var slots = new LuksKeySlot[LuksHeader.SlotCount];
        for (int i = 0; i < slots.Length; i++)
            slots[i] = new LuksKeySlot(LuksHeader.SlotDisabled, 0, new byte[SaltLength], headerSectors + slotSectors * (uint)i, Stripes);
        var header = new LuksHeader
        {
            CipherName = spec.Cipher,
            CipherMode = spec.ModeString,
            HashSpec = hashSpec,
            PayloadOffsetSectors = payload,
            KeyBytes = (uint)keyBytes,
            MasterKeyDigest = digest,
            MasterKeySalt = mkSalt,
            MasterKeyIterations = (uint)mkIters,
            Uuid = Guid.NewGuid().ToString("D"),
            Slots = slots,
        };
        long slotIters = Math.Max(MinIterations, IterationsPerSecond(hash, keyBytes) * iterTimeMs / 1000);
        var (slot0, material) = SealKeySlot(header, 0, masterKey, password, (uint)slotIters);
        header.Slots[0] = slot0;
        var area = new byte[payload * LuksHeader.SectorSize];
        header.Write(area);
        material.CopyTo(area, (int)(slot0.KeyOffsetSectors * LuksHeader.SectorSize));
        return (area, header, masterKey);
    }

    /// <summary>PBKDF2 iterations per second for an output of <paramref name="outputLength"/> bytes (qemu's qcrypto_pbkdf2_count_iters).</summary>
    private static long IterationsPerSecond(HashAlgorithmName hash, int outputLength)
    {
        byte[] pw = new byte[32], salt = new byte[SaltLength];
        int iterations = 1 << 12;
        while (true)
        {
            var sw = Stopwatch.StartNew();
            Pbkdf2.Derive(pw, salt, iterations, hash, outputLength);
            double ms = sw.Elapsed.TotalMilliseconds;
            if (ms >= 100 || iterations >= 1 << 26) return (long)(iterations * 1000.0 / Math.Max(ms, 0.001));
            iterations *= 2;
        }
    }
}
