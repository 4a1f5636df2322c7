using System.Buffers;
using System.Security.Cryptography;

namespace ImageTool.Crypto;

/// <summary>AES for LUKS on the BCL: bulk ECB, CBC one call per run of blocks.</summary>
internal sealed class AesBlockCipher(byte[] key) : LuksBlockCipher
{
    private readonly Aes _aes = CreateAes(key);

    public override int BlockSize => 16;

    public override void EncryptEcb(Span<byte> data) => _aes.EncryptEcb(data, data, PaddingMode.None);

    public override void DecryptEcb(Span<byte> data) => _aes.DecryptEcb(data, data, PaddingMode.None);

    public override void EncryptCbc(Span<byte> data, ReadOnlySpan<byte> iv) => Cbc(data, iv, encrypt: true);

    public override void DecryptCbc(Span<byte> data, ReadOnlySpan<byte> iv) => Cbc(data, iv, encrypt: false);

    private void Cbc(Span<byte> data, ReadOnlySpan<byte> iv, bool encrypt)
    {
        var input = ArrayPool<byte>.Shared.Rent(data.Length);
        try
        {
            var source = input.AsSpan(0, data.Length);
            data.CopyTo(source);
            if (encrypt) _aes.EncryptCbc(source, iv, data, PaddingMode.None);
            else _aes.DecryptCbc(source, iv, data, PaddingMode.None);
        }
        finally { ArrayPool<byte>.Shared.Return(input); }
    }

    public override void Dispose() => _aes.Dispose();

    private static Aes CreateAes(byte[] key)
    {
        var aes = Aes.Create();
        aes.Key = key;
        return aes;
    }
}
