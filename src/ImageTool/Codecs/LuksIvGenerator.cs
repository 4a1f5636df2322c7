using System.Buffers.Binary;
using System.Security.Cryptography;

namespace ImageTool.Codecs;

/// <summary>
/// LUKS IV generators (as qemu's crypto/ivgen-*.c), one 16-byte IV per 512-byte sector: plain (sector number, low 32
/// bits, little-endian), plain64 (64 bits) and ESSIV (plain64 encrypted with AES keyed by a hash of the volume key).
/// Thread-safe.
/// </summary>
internal sealed class LuksIvGenerator : IDisposable
{
    public const int IvSize = 16;

    private readonly bool _truncate;
    private readonly ThreadLocal<Aes>? _essiv;

    private LuksIvGenerator(bool truncate, byte[]? essivKey)
    {
        _truncate = truncate;
        if (essivKey != null)
        {
            _essiv = new ThreadLocal<Aes>(() =>
            {
                var aes = Aes.Create();
                aes.Key = essivKey;
                return aes;
            }, trackAllValues: true);
        }
    }

    public static LuksIvGenerator Plain64() => new(false, null);

    public static LuksIvGenerator Create(LuksCipherSpec spec, ReadOnlySpan<byte> key) => spec.IvGen switch
    {
        "plain" => new LuksIvGenerator(true, null),
        "essiv" => new LuksIvGenerator(false, LuksVolume.HashData(spec.IvHash!, key)),
        _ => Plain64(),
    };

    /// <summary>The IVs of <c>ivs.Length / 16</c> consecutive sectors from <paramref name="firstSector"/>.</summary>
    public void Fill(Span<byte> ivs, long firstSector)
    {
        ivs.Clear();
        for (int s = 0; s * IvSize < ivs.Length; s++)
        {
            long sector = firstSector + s;
            if (_truncate) BinaryPrimitives.WriteUInt32LittleEndian(ivs[(s * IvSize)..], (uint)sector);
            else BinaryPrimitives.WriteInt64LittleEndian(ivs[(s * IvSize)..], sector);
        }
        _essiv?.Value!.EncryptEcb(ivs, ivs, PaddingMode.None);
    }

    public void Dispose()
    {
        if (_essiv == null) return;
        foreach (var aes in _essiv.Values) aes.Dispose();
        _essiv.Dispose();
    }
}
