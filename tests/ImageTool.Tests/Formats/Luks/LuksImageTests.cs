using ImageTool.Info;
using ImageTool.Options;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Luks;

/// <summary>qemu's raw <c>luks</c> driver: containers made by img read by qemu-img and cryptsetup, and the reverse.</summary>
public class LuksImageTests
{
    private const long Size = 2L << 20;
    private static readonly string[] Secret = ["--object", "secret,id=s0,data=pw"];
    private static readonly Dictionary<string, string> Secrets = new() { ["s0"] = "pw" };

    private static string ImageOpts(string path) => $"driver=luks,file.filename={path},key-secret=s0";

    private static OpenOptions WithKey(bool readOnly) => new()
    {
        ReadOnly = readOnly,
        Format = "luks",
        DriverOptions = new ImageOptions().Parse("key-secret=s0"),
        Secrets = Secrets,
    };

    private static void CreateWithImg(string path, string options, long size = Size) => DiskImage.Create(new CreateRequest(path, "luks")
    {
        Size = size,
        Options = new ImageOptions().Parse("key-secret=s0,iter-time=10" + options),
        Secrets = Secrets,
    });

    private static byte[] ImgDecrypt(string path)
    {
        using var image = DiskImage.Open(path, WithKey(readOnly: true));
        var data = new byte[image.Length];
        image.Read(0, data);
        return data;
    }

    private static byte[] QemuDecrypt(TempDir dir, string path)
    {
        Tools.QemuImg(["convert", .. Secret, "--image-opts", ImageOpts(path), "-O", "raw", dir["plain.raw"]]).Ok();
        return File.ReadAllBytes(dir["plain.raw"]);
    }

    private static void AssertInfoAsQemu(string path)
    {
        using var opened = DiskImage.Open(path, new OpenOptions { OpenBacking = false, MetadataOnly = true });
        var info = global::ImageTool.Operations.InfoOperation.Describe(opened);
        Assert.That(ImageInfoFormatter.Json([info], false), Is.EqualTo(Tools.QemuImg("info", "--output=json", path).Ok().Stdout));
        Assert.That(ImageInfoFormatter.Human([info]), Is.EqualTo(Tools.QemuImg("info", path).Ok().Stdout));
    }

    [Test]
    public void Probe_Luks1IsLuks_Luks2IsRaw()
    {
        byte[] header = new byte[2048];
        new byte[] { (byte)'L', (byte)'U', (byte)'K', (byte)'S', 0xBA, 0xBE, 0, 1 }.CopyTo(header, 0);
        Assert.That(global::ImageTool.Formats.FormatRegistry.ProbeBytes(header).Name, Is.EqualTo("luks"));
        header[7] = 2;
        Assert.That(global::ImageTool.Formats.FormatRegistry.ProbeBytes(header).Name, Is.EqualTo("raw"));
    }

    [TestCase("")]
    [TestCase(",cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=essiv,hash-alg=sha1")]
    [TestCase(",cipher-alg=twofish-256,cipher-mode=xts,ivgen-alg=plain")]
    [TestCase(",cipher-alg=serpent-128,cipher-mode=ctr,ivgen-alg=plain64,hash-alg=sha512")]
    [TestCase(",cipher-alg=cast5-128,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=md5")]
    public void ImgCreatesAndWrites_QemuReadsTheSameBytes(string cipher)
    {
        using var dir = new TempDir();
        string path = dir["x.luks"];
        CreateWithImg(path, cipher);
        var data = SeededData.Bytes((int)Size, 3);
        using (var image = DiskImage.Open(path, WithKey(readOnly: false)))
        {
            image.Write(0, data);
            // Partial sectors are read, changed and re-encrypted.
            image.Write(1000, SeededData.Bytes(777, 4));
            image.WriteZeroes(1 << 20, 4096, mayDeallocate: true);
        }
        SeededData.Bytes(777, 4).CopyTo(data, 1000);
        Array.Clear(data, 1 << 20, 4096);
        Assert.That(QemuDecrypt(dir, path), Is.EqualTo(data));
        Assert.That(ImgDecrypt(path), Is.EqualTo(data));
        AssertInfoAsQemu(path);
        Tools.QemuImg(["check", .. Secret, "--image-opts", ImageOpts(path)]);
    }

    [TestCase("")]
    [TestCase(",cipher-alg=aes-192,cipher-mode=xts,ivgen-alg=essiv,ivgen-hash-alg=sha256,hash-alg=sha384")]
    [TestCase(",cipher-alg=serpent-256,cipher-mode=cbc,ivgen-alg=plain")]
    public void QemuCreatesAndWrites_ImgReadsTheSameBytes(string cipher)
    {
        using var dir = new TempDir();
        string path = dir["q.luks"];
        Tools.QemuImg(["create", "-q", "-f", "luks", .. Secret, "-o", "key-secret=s0,iter-time=10" + cipher, path, "1M"]).Ok();
        Tools.QemuIo(["--object", "secret,id=s0,data=pw", "--image-opts", ImageOpts(path), "-c", "write -P 0x5a 4096 70000", "-c", "write -P 0x17 1000000 48576"]).Ok();
        Assert.That(ImgDecrypt(path), Is.EqualTo(QemuDecrypt(dir, path)));
        AssertInfoAsQemu(path);
    }

    [Test]
    public void Create_LayoutAndSparsenessAsQemu()
    {
        using var dir = new TempDir();
        CreateWithImg(dir["img.luks"], "", 10 << 20);
        Tools.QemuImg(["create", "-q", "-f", "luks", .. Secret, "-o", "key-secret=s0,iter-time=10", dir["q.luks"], "10M"]).Ok();
        Assert.That(new FileInfo(dir["img.luks"]).Length, Is.EqualTo(new FileInfo(dir["q.luks"]).Length));
        using var img = DiskImage.Open(dir["img.luks"], new OpenOptions { MetadataOnly = true });
        Assert.That(img.GetInfo().ActualSize, Is.LessThanOrEqualTo(256 << 10), "only the header and slot 0 are written");
    }

    [Test]
    public void UnalignedFileEnd_SizeRoundsUpAsQemu()
    {
        using var dir = new TempDir();
        string path = dir["u.luks"];
        CreateWithImg(path, "");
        using (var fs = new FileStream(path, FileMode.Open)) fs.SetLength(fs.Length + 100);
        AssertInfoAsQemu(path);
        Assert.That(ImgDecrypt(path), Is.EqualTo(QemuDecrypt(dir, path)));
    }

    [Test]
    public void CryptsetupLuks1_ImgDecryptsAsQemu()
    {
        Tools.Require("cryptsetup");
        using var dir = new TempDir();
        string path = dir["cs.img"];
        using (var fs = new FileStream(path, FileMode.Create)) fs.SetLength(4 << 20);
        File.WriteAllText(dir["key"], "pw");
        Tools.Run("cryptsetup", "luksFormat", "-q", "--type", "luks1", "--pbkdf-force-iterations", "1000", "--key-file", dir["key"], path).Ok();
        AssertInfoAsQemu(path);
        // The payload was never written: both decrypt the same noise, which proves the key slot opened.
        Assert.That(ImgDecrypt(path), Is.EqualTo(QemuDecrypt(dir, path)));
    }

    [Test]
    public void ImgContainer_CryptsetupReadsHeaderChecksKeyAndAddsSlot_ImgOpensThatSlot()
    {
        Tools.Require("cryptsetup");
        using var dir = new TempDir();
        string path = dir["x.luks"];
        CreateWithImg(path, ",cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=essiv");
        using (var image = DiskImage.Open(path, WithKey(readOnly: false))) image.Write(0, SeededData.Bytes(65536, 8));
        var dump = Tools.Run("cryptsetup", "luksDump", path).Ok().Stdout;
        Assert.That(dump, Does.Contain("Cipher mode:   \tcbc-essiv:sha256"));
        Assert.That(dump, Does.Contain("Payload offset:\t1032"));
        File.WriteAllText(dir["key"], "pw");
        File.WriteAllText(dir["key2"], "second");
        // cryptsetup checks key slots of kernel-supported ciphers without device-mapper (AF_ALG); else it needs dm-crypt.
        var test = Tools.Run("cryptsetup", "open", "--test-passphrase", "--key-file", dir["key"], path);
        if (test.Stderr.Contains("device-mapper", StringComparison.Ordinal))
            Assert.Ignore("cryptsetup cannot use device-mapper or AF_ALG here: only the header was checked");
        Assert.That(test.ExitCode, Is.Zero, test.Stderr);
        Tools.Run("cryptsetup", "luksAddKey", "-q", "--pbkdf-force-iterations", "1000", "--key-file", dir["key"], path, dir["key2"]).Ok();
        using var reopened = DiskImage.Open(path, WithKey(readOnly: true) with { Secrets = new Dictionary<string, string> { ["s0"] = "second" } });
        var data = new byte[65536];
        reopened.Read(0, data);
        Assert.That(data, Is.EqualTo(SeededData.Bytes(65536, 8)));
    }

    [Test]
    public void WrongPassword_QemuMessage()
    {
        using var dir = new TempDir();
        CreateWithImg(dir["x.luks"], "");
        var e = Assert.Throws<ImageFormatException>(() => DiskImage.Open(dir["x.luks"], WithKey(true) with { Secrets = new Dictionary<string, string> { ["s0"] = "no" } }));
        Assert.That(e!.Message, Does.EndWith("Invalid password, cannot unlock any keyslot"));
        e = Assert.Throws<ImageFormatException>(() => DiskImage.Open(dir["x.luks"], new OpenOptions { Format = "luks" }));
        Assert.That(e!.Message, Does.EndWith("Parameter 'key-secret' is required for cipher"));
    }

    [Test]
    public void TruncatedInsideHeaderArea_OneClearError()
    {
        using var dir = new TempDir();
        string path = dir["t.luks"];
        CreateWithImg(path, "");
        using (var fs = new FileStream(path, FileMode.Open)) fs.SetLength(100_000);
        var e = Assert.Throws<ImageFormatException>(() => DiskImage.Open(path, new OpenOptions { MetadataOnly = true }));
        Assert.That(e!.Message, Does.Contain("Could not refresh total sector count: Input/output error"));
        using (var fs = new FileStream(path, FileMode.Open)) fs.SetLength(300);
        Assert.Throws<ImageFormatException>(() => DiskImage.Open(path, new OpenOptions { Format = "luks", MetadataOnly = true }));
    }
}
