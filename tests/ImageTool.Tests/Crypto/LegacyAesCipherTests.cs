using ImageTool.Crypto;
using ImageTool.Tests.Codecs;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Crypto;

public class LegacyAesCipherTests
{
    [Test]
    public void Encrypt_ThenDecrypt_ReturnsOriginal()
    {
        byte[] data = SeededData.Bytes(8192, 1);
        byte[] work = (byte[])data.Clone();
        using var aes = LegacyAesCipher.FromPassword("secret");
        aes.Encrypt(work, 1000);
        Assert.That(work, Is.Not.EqualTo(data));
        aes.Decrypt(work, work, 1000);
        Assert.That(work, Is.EqualTo(data));
    }

    [Test]
    public void Encrypt_SameDataDifferentSector_DiffersPerSector()
    {
        var a = new byte[1024];
        using var aes = LegacyAesCipher.FromPassword("k");
        aes.Encrypt(a, 0);
        Assert.That(a.AsSpan(0, 512).ToArray(), Is.Not.EqualTo(a.AsSpan(512, 512).ToArray()));
    }

    [Test]
    public void Encrypt_MatchesOpenSslCbcWithPlain64Iv()
    {
        byte[] data = SeededData.Bytes(512, 2);
        using var dir = new TempDir();
        File.WriteAllBytes(dir["p"], data);
        // key "ABCDEFGHIJKLMNOPQRST" is cut to 16 bytes; sector 0x0102 -> IV 02 01 00 .. 00
        Tools.Run("openssl", "enc", "-aes-128-cbc", "-nopad", "-K", "4142434445464748494A4B4C4D4E4F50",
            "-iv", "02010000000000000000000000000000", "-in", dir["p"], "-out", dir["c"]).Ok();
        byte[] work = (byte[])data.Clone();
        using var aes = LegacyAesCipher.FromPassword("ABCDEFGHIJKLMNOPQRST");
        aes.Encrypt(work, 0x0102);
        Assert.That(work, Is.EqualTo(File.ReadAllBytes(dir["c"])));
    }

    [Test]
    public void Decrypt_ClusterWrittenByQemuIo_ReturnsPattern()
    {
        using var dir = new TempDir();
        string img = dir["a.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", "--object", "secret,id=sec0,data=pw", "-o",
            "encrypt.format=aes,encrypt.key-secret=sec0", img, "1M").Ok();
        Tools.QemuIo("--object", "secret,id=sec0,data=pw", "--image-opts",
            $"driver=qcow2,file.filename={img},encrypt.key-secret=sec0", "-c", "write -P 0xab 64k 64k").Ok();
        var (_, stored) = QemuClusterDump.Read(img, 65536);
        var plain = new byte[stored.Length];
        using var aes = LegacyAesCipher.FromPassword("pw");
        aes.Decrypt(stored, plain, 65536 / 512);
        Assert.That(plain, Is.All.EqualTo(0xab));
    }

    [Test]
    public void Decrypt_WrongPassword_GivesGarbageNotError()
    {
        var data = new byte[512];
        using var right = LegacyAesCipher.FromPassword("right");
        right.Encrypt(data, 5);
        using var wrong = LegacyAesCipher.FromPassword("wrong");
        wrong.Decrypt(data, data, 5);
        Assert.That(data, Is.Not.All.EqualTo(0));
    }

    [Test]
    public void Encrypt_PartialSector_Throws()
    {
        using var aes = LegacyAesCipher.FromPassword("x");
        Assert.Throws<ArgumentException>(() => aes.Encrypt(new byte[100], 0));
    }
}
