using ImageTool.Crypto;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Crypto;

public class LuksVolumeTests
{
    private static string QemuLuks(TempDir dir, string password)
    {
        string img = dir["q.luks"];
        Tools.QemuImg("create", "-q", "-f", "luks", "--object", $"secret,id=s,data={password}", "-o", "key-secret=s,iter-time=10", img, "1M").Ok();
        Tools.QemuIo("--object", $"secret,id=s,data={password}", "--image-opts", $"driver=luks,file.filename={img},key-secret=s",
            "-c", "write -P 0xab 4096 8192").Ok();
        return img;
    }

    [Test]
    public void Unlock_VolumeMadeByQemuImg_DecryptsPayload()
    {
        using var dir = new TempDir();
        byte[] file = File.ReadAllBytes(QemuLuks(dir, "pw"));
        var h = LuksHeader.Read(file);
        LuksVolume.Validate(h, file.Length);
        Assert.That((h.CipherName, h.CipherMode, h.HashSpec, h.KeyBytes), Is.EqualTo(("aes", "xts-plain64", "sha256", 64u)));

        byte[] key = LuksVolume.Unlock(h, (off, buf) => file.AsSpan((int)off, buf.Length).CopyTo(buf), "pw");
        var data = file.AsSpan((int)(h.PayloadOffsetSectors * 512 + 4096), 8192).ToArray();
        using var xts = new XtsCipher("aes", key);
        xts.Decrypt(data, 4096 / 512);
        Assert.That(data, Is.All.EqualTo(0xab));
    }

    [Test]
    public void Unlock_WrongPassword_ThrowsClearError()
    {
        using var dir = new TempDir();
        byte[] file = File.ReadAllBytes(QemuLuks(dir, "pw"));
        var h = LuksHeader.Read(file);
        var e = Assert.Throws<ImageFormatException>(() => LuksVolume.Unlock(h, (off, buf) => file.AsSpan((int)off, buf.Length).CopyTo(buf), "nope"));
        Assert.That(e!.Message, Is.EqualTo("Invalid password, cannot unlock any keyslot"));
    }

    [Test]
    public void Create_VolumeIsOpenedByQemuIo()
    {
        using var dir = new TempDir();
        var (area, header, key) = LuksVolume.Create("secret", iterTimeMs: 10);
        var payload = new byte[1 << 20];
        payload.AsSpan(65536, 65536).Fill(0x5c);
        using (var xts = new XtsCipher("aes", key)) xts.Encrypt(payload, 0);
        File.WriteAllBytes(dir["m.luks"], [.. area, .. payload]);
        Assert.That(area.Length, Is.EqualTo(2068480), "qemu's payload offset for a 64-byte key");

        var r = Tools.QemuIo("--object", "secret,id=s,data=secret", "--image-opts", $"driver=luks,file.filename={dir["m.luks"]},key-secret=s",
            "-c", "read -P 0x5c 64k 64k", "-c", "read -P 0 0 64k").Ok();
        Assert.That(r.Stdout, Does.Not.Contain("Pattern verification failed"));
        Assert.That(header.Slots[1].KeyOffsetSectors * 512, Is.EqualTo(262144));
    }

    [Test]
    public void Validate_DamagedSlot_ThrowsCorrupt()
    {
        var (area, _, _) = LuksVolume.Create("x", iterTimeMs: 1);
        area[208 + 44 + 3] = 1; // slot 0 stripes
        var e = Assert.Throws<ImageCorruptException>(() => LuksVolume.Validate(LuksHeader.Read(area), area.Length));
        Assert.That(e!.Message, Does.StartWith("Keyslot 0 is corrupted"));
    }

    [Test]
    public void Read_NotLuks_Throws()
    {
        Assert.Throws<ImageFormatException>(() => LuksHeader.Read(new byte[LuksHeader.Size]));
    }

    [Test]
    public void AfSplit_ThenMerge_ReturnsKey()
    {
        byte[] key = SeededData.Bytes(64, 3);
        byte[] split = AfSplitter.Split(key, 4000, System.Security.Cryptography.HashAlgorithmName.SHA256);
        Assert.That(AfSplitter.Merge(split, 64, 4000, System.Security.Cryptography.HashAlgorithmName.SHA256), Is.EqualTo(key));
    }
}
