namespace ImageTool.Crypto;

/// <summary>
/// One LUKS block cipher, keyed once, over whole blocks: ECB in bulk and CBC from an IV. AES runs on the BCL (AES-NI,
/// bulk calls); twofish, serpent and cast5 on BouncyCastle engines. Not thread-safe: hold one per thread
/// (<see cref="PerThreadCipher"/>).
/// </summary>
internal abstract class LuksBlockCipher : IDisposable
{
    public abstract int BlockSize { get; }

    public abstract void EncryptEcb(Span<byte> data);

    public abstract void DecryptEcb(Span<byte> data);

    /// <summary>CBC over <paramref name="data"/> in place, chained from <paramref name="iv"/>.</summary>
    public virtual void EncryptCbc(Span<byte> data, ReadOnlySpan<byte> iv)
    {
        ReadOnlySpan<byte> previous = iv;
        for (int i = 0; i < data.Length; i += BlockSize)
        {
            var block = data.Slice(i, BlockSize);
            for (int j = 0; j < BlockSize; j++) block[j] ^= previous[j];
            EncryptEcb(block);
            previous = block;
        }
    }

    public virtual void DecryptCbc(Span<byte> data, ReadOnlySpan<byte> iv)
    {
        Span<byte> previous = stackalloc byte[BlockSize], next = stackalloc byte[BlockSize];
        iv.CopyTo(previous);
        for (int i = 0; i < data.Length; i += BlockSize)
        {
            var block = data.Slice(i, BlockSize);
            block.CopyTo(next);
            DecryptEcb(block);
            for (int j = 0; j < BlockSize; j++) block[j] ^= previous[j];
            next.CopyTo(previous);
        }
    }

    public abstract void Dispose();

    /// <summary>The cipher a LUKS header names (<c>aes</c>, <c>twofish</c>, <c>serpent</c>, <c>cast5</c>) with <paramref name="key"/>.</summary>
    public static LuksBlockCipher Create(string cipher, byte[] key) => cipher switch
    {
        "aes" => new AesBlockCipher(key),
        _ => new BouncyBlockCipher(cipher, key),
    };

    /// <summary>The cipher's block size in bytes.</summary>
    public static int BlockSizeOf(string cipher) => cipher == "cast5" ? 8 : 16;
}
