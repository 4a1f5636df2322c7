namespace ImageTool.Crypto;

/// <summary>
/// The LUKS payload and key-slot cipher: algorithm, key size, mode and IV generator as the header spells them
/// (<c>aes</c>, <c>cbc-essiv:sha256</c>) and as qemu's options do (<c>aes-128</c>, <c>cbc</c>, <c>essiv</c>, <c>sha256</c>).
/// img runs what qemu-img 7.2 (nettle) creates and opens: aes-128/192/256 (BCL), twofish-128/192/256, serpent-128/192/256
/// and cast5-128 (BouncyCastle) in ECB, CBC and CTR modes, and in XTS mode for the 128-bit block ciphers (all but cast5);
/// IV generators plain, plain64 and ESSIV (the same cipher keyed by the hash of the volume key, so the digest must be a
/// key size of that cipher: 16, 24 or 32 bytes, and 16 for cast5). des and 3des have no LUKS name in qemu; 192-bit keys
/// outside XTS give key material that is not whole sectors, on which qemu aborts: both are refused.
/// </summary>
internal sealed record LuksCipherSpec(string Cipher, int KeyBytes, string Mode, string IvGen, string? IvHash)
{
    /// <summary>qemu's default: aes-256-xts-plain64.</summary>
    public static LuksCipherSpec Default { get; } = new("aes", 64, "xts", "plain64", null);

    // qemu 7.2's QCryptoCipherAlgorithm, QCryptoCipherMode and QCryptoIVGenAlgorithm values (Debian's build has no sm4).
    private static readonly string[] QemuAlgorithms =
        ["aes-128", "aes-192", "aes-256", "des", "3des", "cast5-128", "serpent-128", "serpent-192", "serpent-256", "twofish-128", "twofish-192", "twofish-256"];
    private static readonly string[] QemuModes = ["ecb", "cbc", "xts", "ctr"];
    private static readonly string[] QemuIvGens = ["plain", "plain64", "essiv"];

    /// <summary>The header's cipher_mode field: mode-ivgen, with ":hash" for ESSIV.</summary>
    public string ModeString => IvHash == null ? $"{Mode}-{IvGen}" : $"{Mode}-{IvGen}:{IvHash}";

    /// <summary>qemu's cipher-alg name (an XTS key holds two cipher keys).</summary>
    public string AlgorithmName => $"{Cipher}-{KeyBytes * 8 / (Mode == "xts" ? 2 : 1)}";

    /// <summary>From create options (null means qemu's default); errors as qemu's option parser gives them.</summary>
    public static LuksCipherSpec FromOptions(string? algorithm, string? mode, string? ivGen, string? ivHash)
    {
        algorithm ??= "aes-256";
        mode ??= "xts";
        ivGen ??= "plain64";
        if (!QemuAlgorithms.Contains(algorithm)) throw new ImageFormatException($"Parameter 'cipher-alg' does not accept value '{algorithm}'");
        if (!QemuModes.Contains(mode)) throw new ImageFormatException($"Parameter 'cipher-mode' does not accept value '{mode}'");
        if (!QemuIvGens.Contains(ivGen)) throw new ImageFormatException($"Parameter 'ivgen-alg' does not accept value '{ivGen}'");
        if (ivHash != null && !LuksVolume.IsQemuHash(ivHash)) throw new ImageFormatException($"Parameter 'ivgen-hash-alg' does not accept value '{ivHash}'");
        // qemu's LUKS cipher-name table has no entry for them.
        if (algorithm is "des" or "3des") throw new UnsupportedFeatureException($"Algorithm '{algorithm}' not supported");
        int dash = algorithm.LastIndexOf('-');
        string cipher = dash < 0 ? algorithm : algorithm[..dash];
        int bits = dash < 0 ? 0 : int.Parse(algorithm[(dash + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var spec = new LuksCipherSpec(cipher, bits / 8 * (mode == "xts" ? 2 : 1), mode, ivGen, ivGen == "essiv" ? ivHash ?? "sha256" : null);
        spec.Validate();
        // 24-byte keys make key material of 96000 bytes, not whole sectors: qemu 7.2 aborts on such volumes.
        if (spec.KeyBytes * LuksVolume.Stripes % LuksSectorCipher.SectorSize != 0)
            throw new UnsupportedFeatureException($"Cipher {algorithm} in {mode} mode is not supported: its key material is not a whole number of sectors");
        return spec;
    }

    /// <summary>From a LUKS header: refused with qemu's messages when qemu does not know it, and when img cannot run it if <paramref name="requireSupported"/>.</summary>
    public static LuksCipherSpec FromHeader(LuksHeader h, bool requireSupported = true)
    {
        var spec = Parse(h);
        if (!QemuModes.Contains(spec.Mode)) throw new UnsupportedFeatureException($"Cipher mode '{spec.Mode}' not supported");
        if (!QemuIvGens.Contains(spec.IvGen)) throw new UnsupportedFeatureException($"IV generator '{spec.IvGen}' not supported");
        if (spec.IvHash != null && !LuksVolume.IsQemuHash(spec.IvHash))
            throw new UnsupportedFeatureException($"Hash algorithm '{spec.IvHash}' not supported");
        int cipherKey = spec.KeyBytes / (spec.Mode == "xts" ? 2 : 1);
        if (!QemuAlgorithms.Contains($"{spec.Cipher}-{cipherKey * 8}"))
            throw new UnsupportedFeatureException($"Algorithm '{spec.Cipher}' with key size {cipherKey} bytes not supported");
        if (requireSupported) spec.Validate();
        return spec;
    }

    /// <summary>A LUKS header's cipher_name, cipher_mode and key_bytes as they are (for info, which needs no key).</summary>
    public static LuksCipherSpec Parse(LuksHeader h)
    {
        string mode = h.CipherMode, ivGen = "plain";
        string? ivHash = null;
        int dash = mode.IndexOf('-');
        if (dash >= 0)
        {
            ivGen = mode[(dash + 1)..];
            mode = mode[..dash];
            int colon = ivGen.IndexOf(':');
            if (colon >= 0)
            {
                ivHash = ivGen[(colon + 1)..];
                ivGen = ivGen[..colon];
            }
        }
        return new LuksCipherSpec(h.CipherName, (int)h.KeyBytes, mode, ivGen, ivHash);
    }

    /// <summary>Refuses what img cannot run, with qemu's wording where qemu has one and in qemu's order.</summary>
    public void Validate()
    {
        if (Cipher is not ("aes" or "twofish" or "serpent" or "cast5")) throw new UnsupportedFeatureException($"Unsupported cipher algorithm {AlgorithmName}");
        int cipherKey = KeyBytes / (Mode == "xts" ? 2 : 1);
        if (Cipher == "cast5" ? cipherKey != 16 : cipherKey is not (16 or 24 or 32))
            throw new UnsupportedFeatureException($"Algorithm '{Cipher}' with key size {KeyBytes} bytes not supported");
        if (IvGen is not ("plain" or "plain64" or "essiv")) throw new UnsupportedFeatureException($"Unsupported IV generator '{IvGen}'");
        if (IvGen == "essiv") ValidateEssiv();
        if (Mode is not ("xts" or "cbc" or "ctr" or "ecb")) throw new UnsupportedFeatureException($"Unsupported cipher mode {Mode}");
        if (Mode == "xts" && LuksBlockCipher.BlockSizeOf(Cipher) != 16) throw new UnsupportedFeatureException("Unsupported cipher mode xts");
    }

    /// <summary>ESSIV keys the same cipher with the hash of the volume key, so the digest must be one of its key sizes.</summary>
    private void ValidateEssiv()
    {
        int digest = LuksVolume.DigestLength(IvHash ?? throw new ImageCorruptException("Missing hash name for ESSIV"));
        string? family = Cipher switch { "aes" => "AES", "serpent" => "Serpent", "twofish" => "Twofish", _ => null };
        if (family == null)
        {
            if (digest != 16) throw new UnsupportedFeatureException($"Cipher {AlgorithmName} not supported with essiv");
        }
        else if (digest is not (16 or 24 or 32))
            throw new UnsupportedFeatureException($"No {family} cipher with key size {digest} available");
    }
}
