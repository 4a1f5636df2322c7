using ImageTool.Info;
using ImageTool.Options;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Qcow2;

/// <summary>LUKS with other ciphers, modes, IV generators and hashes than qemu's defaults, both ways with qemu-img 7.2.</summary>
public class Qcow2LuksCipherTests
{
    private const long Size = 2L << 20;
    private static readonly string[] Secret = ["--object", "secret,id=sec0,data=pw"];

    private static string Options(string cipher) => "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10," + cipher;

    private static string ImageOpts(string path) => $"driver=qcow2,file.filename={path},encrypt.key-secret=sec0";

    private static OpenOptions WithKey(bool readOnly) => new()
    {
        ReadOnly = readOnly,
        Format = "qcow2",
        DriverOptions = new ImageOptions().Parse("encrypt.key-secret=sec0"),
        Secrets = new Dictionary<string, string> { ["sec0"] = "pw" },
    };

    private static byte[] QemuDecrypt(TempDir dir, string path)
    {
        Tools.QemuImg(["convert", .. Secret, "--image-opts", ImageOpts(path), "-O", "raw", dir["plain.raw"]]).Ok();
        return File.ReadAllBytes(dir["plain.raw"]);
    }

    private static byte[] ImgDecrypt(string path)
    {
        using var image = DiskImage.Open(path, WithKey(readOnly: true));
        var data = new byte[image.Length];
        image.Read(0, data);
        return data;
    }

    [TestCase("encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.hash-alg=sha1")]
    [TestCase("encrypt.cipher-alg=aes-192,encrypt.cipher-mode=xts,encrypt.ivgen-alg=plain,encrypt.hash-alg=sha512")]
    [TestCase("encrypt.cipher-alg=aes-128,encrypt.cipher-mode=ecb,encrypt.hash-alg=sha384")]
    [TestCase("encrypt.cipher-mode=xts,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=md5")]
    [TestCase("encrypt.cipher-alg=aes-256,encrypt.cipher-mode=ctr,encrypt.ivgen-alg=plain64")]
    [TestCase("encrypt.cipher-alg=aes-256,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=plain,encrypt.hash-alg=sha256")]
    public void QemuMadeImage_ImgReadsAndInfoEqual_ImgMadeImage_QemuReads(string cipher)
    {
        using var dir = new TempDir();
        string q = dir["q.qcow2"];
        Tools.QemuImg(["create", .. Secret, "-q", "-f", "qcow2", "-o", Options(cipher), q, "2M"]).Ok();
        Tools.QemuIo([.. Secret, "--image-opts", ImageOpts(q), "-c", "write -P 0xab 1000 70000", "-c", "write -P 0xcd 1M 4096"]).Ok();
        Assert.That(ImgDecrypt(q), Is.EqualTo(QemuDecrypt(dir, q)));
        using (var opened = DiskImage.Open(q, new OpenOptions { OpenBacking = false, MetadataOnly = true }))
        {
            var info = global::ImageTool.Operations.InfoOperation.Describe(opened);
            Assert.That(ImageInfoFormatter.Json([info], false), Is.EqualTo(Tools.QemuImg("info", "--output=json", q).Ok().Stdout));
            Assert.That(ImageInfoFormatter.Human([info]), Is.EqualTo(Tools.QemuImg("info", q).Ok().Stdout));
        }

        string mine = dir["i.qcow2"];
        var o = new ImageOptions().Parse(Options(cipher));
        DiskImage.Create(new CreateRequest(mine, "qcow2") { Size = Size, Options = o, Secrets = new Dictionary<string, string> { ["sec0"] = "pw" } });
        var model = new byte[Size];
        using (var image = DiskImage.Open(mine, WithKey(readOnly: false)))
        {
            for (int i = 0; i < 6; i++)
            {
                ModelWrites.Apply(image, model, i * 300_001 + 17, 40_000 + i * 999, zero: false, mayDeallocate: false, seed: i);
            }
        }
        Tools.QemuImg(["check", .. Secret, "--image-opts", ImageOpts(mine)]).Ok();
        Assert.That(QemuDecrypt(dir, mine), Is.EqualTo(model));
        string qemuInfo = Tools.QemuImg("info", "--output=json", mine).Ok().Stdout;
        string expected = Tools.QemuImg("info", "--output=json", q).Ok().Stdout;
        string Algorithms(string json) => string.Join('\n', json.Split('\n').Where(l => l.Contains("-alg\"", StringComparison.Ordinal) || l.Contains("cipher-mode", StringComparison.Ordinal)));
        Assert.That(Algorithms(qemuInfo), Is.EqualTo(Algorithms(expected)));
    }

    [TestCase("encrypt.cipher-alg=twofish-256", "Unsupported cipher algorithm twofish-256")]
    [TestCase("encrypt.cipher-alg=serpent-128,encrypt.cipher-mode=cbc", "Unsupported cipher algorithm serpent-128")]
    [TestCase("encrypt.hash-alg=md5", "Unsupported hash algorithm md5")]
    [TestCase("encrypt.cipher-alg=aes-192,encrypt.cipher-mode=cbc", "Cipher aes-192 in cbc mode is not supported: its key material is not a whole number of sectors")]
    public void Create_CipherImgCannotRun_ClearErrorNothingWritten(string cipher, string message)
    {
        using var dir = new TempDir();
        var o = new ImageOptions().Parse(Options(cipher));
        var e = Assert.Catch<ImageFormatException>(() => DiskImage.Create(new CreateRequest(dir["x.qcow2"], "qcow2")
        {
            Size = Size,
            Options = o,
            Secrets = new Dictionary<string, string> { ["sec0"] = "pw" },
        }));
        Assert.That(e!.Message, Is.EqualTo(message));
        Assert.That(File.Exists(dir["x.qcow2"]), Is.False);
    }

    [Test]
    public void Open_QemuTwofishImage_InfoWorksUnlockRefused()
    {
        using var dir = new TempDir();
        string q = dir["t.qcow2"];
        Tools.QemuImg(["create", .. Secret, "-q", "-f", "qcow2", "-o", Options("encrypt.cipher-alg=twofish-128"), q, "1M"]).Ok();
        using (var opened = DiskImage.Open(q, new OpenOptions { OpenBacking = false, MetadataOnly = true }))
        {
            Assert.That(ImageInfoFormatter.Json([global::ImageTool.Operations.InfoOperation.Describe(opened)], false),
                Is.EqualTo(Tools.QemuImg("info", "--output=json", q).Ok().Stdout));
        }
        byte[] before = File.ReadAllBytes(q);
        var e = Assert.Catch<ImageFormatException>(() => DiskImage.Open(q, WithKey(readOnly: false)));
        Assert.That(e!.Message, Does.EndWith("Unsupported cipher algorithm twofish-128"));
        Assert.That(File.ReadAllBytes(q), Is.EqualTo(before));
    }
}
