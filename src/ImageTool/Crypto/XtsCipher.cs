using System.Buffers;
using System.Buffers.Binary;

namespace ImageTool.Crypto;

/// <summary>
/// XTS over 512-byte sectors with any 128-bit block cipher (AES, twofish, serpent), by default with the "plain64" IV
/// (LE64 sector number, zero padded), as LUKS uses it (qemu's default aes-256-xts-plain64); another
/// <see cref="LuksIvGenerator"/> may give the IVs. Built from bulk ECB passes: tweaks for every block, XOR, one ECB
/// call over the whole buffer, XOR. Sectors are whole, so no ciphertext stealing. Thread-safe.
/// </summary>
internal sealed class XtsCipher : IDisposable
{
    public const int SectorSize = 512;
    private const int BlockSize = 16;
    private const int Chunk = 128 * 1024;

    private readonly PerThreadCipher _data;
    private readonly PerThreadCipher _tweak;
    private readonly LuksIvGenerator _ivs;

    /// <param name="cipher">The block cipher as a LUKS header names it (<c>aes</c>, <c>twofish</c>, <c>serpent</c>).</param>
    /// <param name="key">Both XTS keys: data key first, tweak key second (32, 48 or 64 bytes).</param>
    /// <param name="ivs">The IV generator (not owned); plain64 when null.</param>
    public XtsCipher(string cipher, ReadOnlySpan<byte> key, LuksIvGenerator? ivs = null)
    {
        if (LuksBlockCipher.BlockSizeOf(cipher) != BlockSize) throw new UnsupportedFeatureException("Unsupported cipher mode xts");
        if (key.Length is not (32 or 48 or 64)) throw new ArgumentException($"XTS key of {key.Length} bytes", nameof(key));
        _ivs = ivs ?? LuksIvGenerator.Plain64();
        _data = new PerThreadCipher(cipher, key[..(key.Length / 2)].ToArray());
        _tweak = new PerThreadCipher(cipher, key[(key.Length / 2)..].ToArray());
    }

    public void Encrypt(Span<byte> data, long firstSector) => Transform(data, firstSector, encrypt: true);

    public void Decrypt(Span<byte> data, long firstSector) => Transform(data, firstSector, encrypt: false);

    private void Transform(Span<byte> data, long firstSector, bool encrypt)
    {
        if (data.Length % SectorSize != 0) throw new ArgumentException($"Length {data.Length} is not a multiple of {SectorSize}");
        var dataCipher = _data.Value;
        var tweakCipher = _tweak.Value;
        byte[] tweaks = ArrayPool<byte>.Shared.Rent(Math.Min(Chunk, data.Length));
        try
        {
            for (int done = 0; done < data.Length; done += Chunk)
            {
                int n = Math.Min(Chunk, data.Length - done);
                var part = data.Slice(done, n);
                var t = tweaks.AsSpan(0, n);
                long sector = firstSector + done / SectorSize;
                ComputeTweaks(tweakCipher, _ivs, t, sector);
                Xor(part, t);
                if (encrypt) dataCipher.EncryptEcb(part);
                else dataCipher.DecryptEcb(part);
                Xor(part, t);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(tweaks);
        }
    }

    /// <summary>T0 = E_K2(IV) per sector (one ECB call for all sectors), then T(j+1) = T(j) * alpha in GF(2^128).</summary>
    private static void ComputeTweaks(LuksBlockCipher tweakCipher, LuksIvGenerator ivGenerator, Span<byte> tweaks, long firstSector)
    {
        int sectors = tweaks.Length / SectorSize;
        Span<byte> ivs = sectors * BlockSize <= 4096 ? stackalloc byte[sectors * BlockSize] : new byte[sectors * BlockSize];
        ivGenerator.Fill(ivs, firstSector);
        tweakCipher.EncryptEcb(ivs);
        for (int s = 0; s < sectors; s++)
        {
            var sectorTweaks = tweaks.Slice(s * SectorSize, SectorSize);
            ulong lo = BinaryPrimitives.ReadUInt64LittleEndian(ivs[(s * BlockSize)..]);
            ulong hi = BinaryPrimitives.ReadUInt64LittleEndian(ivs[(s * BlockSize + 8)..]);
            for (int b = 0; b < SectorSize / BlockSize; b++)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(sectorTweaks[(b * BlockSize)..], lo);
                BinaryPrimitives.WriteUInt64LittleEndian(sectorTweaks[(b * BlockSize + 8)..], hi);
                ulong carry = hi >> 63;
                hi = (hi << 1) | (lo >> 63);
                lo = (lo << 1) ^ (carry * 0x87);
            }
        }
    }

    private static void Xor(Span<byte> data, ReadOnlySpan<byte> mask)
    {
        var d = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(data);
        var m = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(mask);
        for (int i = 0; i < d.Length; i++) d[i] ^= m[i];
    }

    public void Dispose()
    {
        _data.Dispose();
        _tweak.Dispose();
    }
}
