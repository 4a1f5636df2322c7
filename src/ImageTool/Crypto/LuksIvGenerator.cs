using System.Buffers.Binary;

namespace ImageTool.Crypto;

/// <summary>
/// LUKS IV generators (as qemu's crypto/ivgen-*.c), one IV of the cipher's block size per 512-byte sector: plain
/// (sector number, low 32 bits, little-endian, zero padded), plain64 (64 bits) and ESSIV (plain64 encrypted in ECB
/// mode with the volume's cipher algorithm keyed by a hash of the whole volume key). Thread-safe.
/// </summary>
internal sealed class LuksIvGenerator : IDisposable
{
    private readonly bool _truncate;
    private readonly PerThreadCipher? _essiv;

    private LuksIvGenerator(int ivSize, bool truncate, PerThreadCipher? essiv)
    {
        IvSize = ivSize;
        _truncate = truncate;
        _essiv = essiv;
    }

    /// <summary>Bytes per IV: the cipher's block size.</summary>
    public int IvSize { get; }

    public static LuksIvGenerator Plain64(int ivSize = 16) => new(ivSize, false, null);

    public static LuksIvGenerator Create(LuksCipherSpec spec, ReadOnlySpan<byte> key)
    {
        int ivSize = LuksBlockCipher.BlockSizeOf(spec.Cipher);
        return spec.IvGen switch
        {
            "plain" => new LuksIvGenerator(ivSize, true, null),
            "essiv" => new LuksIvGenerator(ivSize, false, new PerThreadCipher(spec.Cipher, LuksVolume.HashData(spec.IvHash!, key))),
            _ => Plain64(ivSize),
        };
    }

    /// <summary>The IVs of <c>ivs.Length / IvSize</c> consecutive sectors from <paramref name="firstSector"/>.</summary>
    public void Fill(Span<byte> ivs, long firstSector)
    {
        ivs.Clear();
        for (int s = 0; s * IvSize < ivs.Length; s++)
        {
            long sector = firstSector + s;
            if (_truncate) BinaryPrimitives.WriteUInt32LittleEndian(ivs[(s * IvSize)..], (uint)sector);
            else BinaryPrimitives.WriteInt64LittleEndian(ivs[(s * IvSize)..], sector);
        }
        _essiv?.Value.EncryptEcb(ivs);
    }

    public void Dispose() => _essiv?.Dispose();
}
