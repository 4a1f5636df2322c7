using System.Security.Cryptography;
using ImageTool.Crypto;

namespace ImageTool.Tests.Crypto;

public class Pbkdf2Tests
{
    private static readonly HashAlgorithmName[] Hashes = [HashAlgorithmName.SHA1, HashAlgorithmName.SHA256, HashAlgorithmName.SHA384, HashAlgorithmName.SHA512];

    [Test]
    public void Derive_EqualsTheBcl_ForEveryHashLengthAndPasswordSize([ValueSource(nameof(Hashes))] HashAlgorithmName hash,
        [Values(1, 2, 1000)] int iterations, [Values(0, 5, 64, 129, 200)] int passwordLength, [Values(16, 32, 64, 100)] int length)
    {
        byte[] password = Support.SeededData.Bytes(passwordLength, passwordLength + iterations);
        byte[] salt = Support.SeededData.Bytes(32, length);
        Assert.That(Pbkdf2.Derive(password, salt, iterations, hash, length),
            Is.EqualTo(Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, hash, length)));
    }

    [Test]
    public void Derive_Rfc6070Sha1Vector()
    {
        // RFC 6070: P = "password", S = "salt", c = 4096, dkLen = 20.
        byte[] key = Pbkdf2.Derive("password"u8, "salt"u8, 4096, HashAlgorithmName.SHA1, 20);
        Assert.That(Convert.ToHexStringLower(key), Is.EqualTo("4b007901b765489abead49d926f721d065a429c1"));
    }
}
