using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;

namespace ImageTool.Crypto;

/// <summary>
/// Twofish, Serpent and CAST5 for LUKS on BouncyCastle engines, one per direction. BouncyCastle's SerpentEngine is
/// the standard (NESSIE) byte order that Linux, nettle and so qemu use; its TnepresEngine is the reversed one.
/// </summary>
internal sealed class BouncyBlockCipher : LuksBlockCipher
{
    private readonly IBlockCipher _encrypt;
    private readonly IBlockCipher _decrypt;

    public BouncyBlockCipher(string cipher, byte[] key)
    {
        _encrypt = Engine(cipher);
        _decrypt = Engine(cipher);
        _encrypt.Init(true, new KeyParameter(key));
        _decrypt.Init(false, new KeyParameter(key));
    }

    public override int BlockSize => _encrypt.GetBlockSize();

    public override void EncryptEcb(Span<byte> data) => Ecb(_encrypt, data);

    public override void DecryptEcb(Span<byte> data) => Ecb(_decrypt, data);

    private void Ecb(IBlockCipher engine, Span<byte> data)
    {
        int size = BlockSize;
        for (int i = 0; i < data.Length; i += size) engine.ProcessBlock(data.Slice(i, size), data.Slice(i, size));
    }

    public override void Dispose() { }

    private static IBlockCipher Engine(string cipher) => cipher switch
    {
        "twofish" => new TwofishEngine(),
        "serpent" => new SerpentEngine(),
        "cast5" => new Cast5Engine(),
        _ => throw new UnsupportedFeatureException($"Unsupported cipher algorithm {cipher}"),
    };
}
