using System.Buffers;

namespace ImageTool.Crypto;

/// <summary>
/// Encrypts and decrypts whole 512-byte sectors with a <see cref="LuksCipherSpec"/> (payload and key slots alike):
/// XTS through <see cref="XtsCipher"/>, CBC restarted at every sector with the sector's IV, CTR counting up from the
/// sector's IV (a big-endian counter over the whole block, as nettle and gcrypt do), ECB without IV.
/// Thread-safe.
/// </summary>
internal sealed class LuksSectorCipher : IDisposable
{
    public const int SectorSize = 512;

    private readonly string _mode;
    private readonly XtsCipher? _xts;
    private readonly LuksIvGenerator _ivs;
    private readonly PerThreadCipher? _cipher;

    public LuksSectorCipher(LuksCipherSpec spec, byte[] key)
    {
        _mode = spec.Mode;
        _ivs = LuksIvGenerator.Create(spec, key);
        if (_mode == "xts") _xts = new XtsCipher(spec.Cipher, key, _ivs);
        else _cipher = new PerThreadCipher(spec.Cipher, key);
    }

    public void Encrypt(Span<byte> data, long firstSector) => Transform(data, firstSector, encrypt: true);

    public void Decrypt(Span<byte> data, long firstSector) => Transform(data, firstSector, encrypt: false);

    private void Transform(Span<byte> data, long firstSector, bool encrypt)
    {
        if (data.Length % SectorSize != 0) throw new ArgumentException($"Length {data.Length} is not a multiple of {SectorSize}");
        if (_xts != null)
        {
            if (encrypt) _xts.Encrypt(data, firstSector);
            else _xts.Decrypt(data, firstSector);
            return;
        }
        var cipher = _cipher!.Value;
        if (_mode == "ecb")
        {
            if (encrypt) cipher.EncryptEcb(data);
            else cipher.DecryptEcb(data);
            return;
        }
        if (_mode == "ctr")
        {
            Ctr(cipher, data, firstSector);
            return;
        }
        Span<byte> iv = stackalloc byte[_ivs.IvSize];
        for (int s = 0; s * SectorSize < data.Length; s++)
        {
            var sector = data.Slice(s * SectorSize, SectorSize);
            _ivs.Fill(iv, firstSector + s);
            if (encrypt) cipher.EncryptCbc(sector, iv);
            else cipher.DecryptCbc(sector, iv);
        }
    }

    /// <summary>CTR is its own inverse: the keystream E(IV), E(IV + 1), ... of each sector XORed in.</summary>
    private void Ctr(LuksBlockCipher cipher, Span<byte> data, long firstSector)
    {
        int block = cipher.BlockSize;
        var stream = ArrayPool<byte>.Shared.Rent(SectorSize);
        try
        {
            var keys = stream.AsSpan(0, SectorSize);
            for (int s = 0; s * SectorSize < data.Length; s++)
            {
                _ivs.Fill(keys[..block], firstSector + s);
                for (int b = block; b < SectorSize; b += block)
                {
                    var counter = keys.Slice(b, block);
                    keys.Slice(b - block, block).CopyTo(counter);
                    for (int i = block - 1; i >= 0 && ++counter[i] == 0; i--) { }
                }
                cipher.EncryptEcb(keys);
                var sector = data.Slice(s * SectorSize, SectorSize);
                for (int i = 0; i < SectorSize; i++) sector[i] ^= keys[i];
            }
        }
        finally { ArrayPool<byte>.Shared.Return(stream); }
    }

    public void Dispose()
    {
        _xts?.Dispose();
        _cipher?.Dispose();
        _ivs.Dispose();
    }
}
