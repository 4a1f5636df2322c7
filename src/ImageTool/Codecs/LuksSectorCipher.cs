using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace ImageTool.Codecs;

/// <summary>
/// Encrypts and decrypts whole 512-byte sectors with a <see cref="LuksCipherSpec"/> (payload and key slots alike):
/// XTS through <see cref="XtsAesCipher"/>, CBC restarted at every sector with the sector's IV, CTR counting up from the
/// sector's IV (a 128-bit big-endian counter, as nettle and gcrypt do), ECB without IV.
/// Thread-safe.
/// </summary>
internal sealed class LuksSectorCipher : IDisposable
{
    public const int SectorSize = 512;

    private readonly string _mode;
    private readonly XtsAesCipher? _xts;
    private readonly LuksIvGenerator _ivs;
    private readonly ThreadLocal<Aes>? _aes;

    public LuksSectorCipher(LuksCipherSpec spec, byte[] key)
    {
        _mode = spec.Mode;
        _ivs = LuksIvGenerator.Create(spec, key);
        if (_mode == "xts")
        {
            _xts = new XtsAesCipher(key, _ivs);
            return;
        }
        _aes = new ThreadLocal<Aes>(() =>
        {
            var aes = Aes.Create();
            aes.Key = key;
            return aes;
        }, trackAllValues: true);
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
        var aes = _aes!.Value!;
        if (_mode == "ecb")
        {
            if (encrypt) aes.EncryptEcb(data, data, PaddingMode.None);
            else aes.DecryptEcb(data, data, PaddingMode.None);
            return;
        }
        if (_mode == "ctr")
        {
            Ctr(aes, data, firstSector);
            return;
        }
        Span<byte> iv = stackalloc byte[LuksIvGenerator.IvSize];
        var buffer = ArrayPool<byte>.Shared.Rent(SectorSize);
        try
        {
            for (int s = 0; s * SectorSize < data.Length; s++)
            {
                var sector = data.Slice(s * SectorSize, SectorSize);
                _ivs.Fill(iv, firstSector + s);
                sector.CopyTo(buffer);
                if (encrypt) aes.EncryptCbc(buffer.AsSpan(0, SectorSize), iv, sector, PaddingMode.None);
                else aes.DecryptCbc(buffer.AsSpan(0, SectorSize), iv, sector, PaddingMode.None);
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }

    /// <summary>CTR is its own inverse: the keystream E(IV), E(IV + 1), ... of each sector XORed in.</summary>
    private void Ctr(Aes aes, Span<byte> data, long firstSector)
    {
        var stream = ArrayPool<byte>.Shared.Rent(SectorSize);
        try
        {
            var keys = stream.AsSpan(0, SectorSize);
            for (int s = 0; s * SectorSize < data.Length; s++)
            {
                _ivs.Fill(keys[..LuksIvGenerator.IvSize], firstSector + s);
                UInt128 counter = BinaryPrimitives.ReadUInt128BigEndian(keys);
                for (int b = 1; b < SectorSize / LuksIvGenerator.IvSize; b++)
                    BinaryPrimitives.WriteUInt128BigEndian(keys[(b * LuksIvGenerator.IvSize)..], counter + (UInt128)b);
                aes.EncryptEcb(keys, keys, PaddingMode.None);
                var sector = data.Slice(s * SectorSize, SectorSize);
                for (int i = 0; i < SectorSize; i++) sector[i] ^= keys[i];
            }
        }
        finally { ArrayPool<byte>.Shared.Return(stream); }
    }

    public void Dispose()
    {
        _xts?.Dispose();
        if (_aes != null)
        {
            foreach (var aes in _aes.Values) aes.Dispose();
            _aes.Dispose();
        }
        _ivs.Dispose();
    }
}
