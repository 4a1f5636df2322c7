using System.Buffers.Binary;
using System.Security.Cryptography;

namespace ImageTool.Crypto;

/// <summary>
/// LUKS1 anti-forensic split (cryptsetup's on-disk-format spec §2.4): the key is spread over <c>stripes</c> blocks;
/// all but the last are random, and the last is the key XOR the diffused XOR-chain of the others.
/// </summary>
internal static class AfSplitter
{
    public static byte[] Split(ReadOnlySpan<byte> key, int stripes, HashAlgorithmName hash)
    {
        int n = key.Length;
        var split = new byte[n * stripes];
        RandomNumberGenerator.Fill(split.AsSpan(0, n * (stripes - 1)));
        var d = new byte[n];
        for (int i = 0; i < stripes - 1; i++)
        {
            XorInto(d, split.AsSpan(i * n, n));
            Diffuse(d, hash);
        }
        var last = split.AsSpan((stripes - 1) * n, n);
        for (int j = 0; j < n; j++) last[j] = (byte)(d[j] ^ key[j]);
        return split;
    }

    public static byte[] Merge(ReadOnlySpan<byte> split, int keyLength, int stripes, HashAlgorithmName hash)
    {
        var d = new byte[keyLength];
        for (int i = 0; i < stripes - 1; i++)
        {
            XorInto(d, split.Slice(i * keyLength, keyLength));
            Diffuse(d, hash);
        }
        XorInto(d, split.Slice((stripes - 1) * keyLength, keyLength));
        return d;
    }

    private static void XorInto(Span<byte> d, ReadOnlySpan<byte> s)
    {
        for (int j = 0; j < d.Length; j++) d[j] ^= s[j];
    }

    /// <summary>Each digest-sized chunk j becomes H(BE32(j) || chunk), cut to the chunk's length.</summary>
    private static void Diffuse(Span<byte> d, HashAlgorithmName hash)
    {
        using var h = IncrementalHash.CreateHash(hash);
        int digest = h.HashLengthInBytes;
        Span<byte> index = stackalloc byte[4];
        Span<byte> output = stackalloc byte[64];
        for (int j = 0, off = 0; off < d.Length; j++, off += digest)
        {
            int len = Math.Min(digest, d.Length - off);
            BinaryPrimitives.WriteInt32BigEndian(index, j);
            h.AppendData(index);
            h.AppendData(d.Slice(off, len));
            h.GetHashAndReset(output);
            output[..len].CopyTo(d.Slice(off, len));
        }
    }
}
