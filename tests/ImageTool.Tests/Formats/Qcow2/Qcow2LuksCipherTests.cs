using ImageTool.Info;
using ImageTool.Options;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Qcow2;

/// <summary>LUKS with other ciphers (aes, twofish, serpent, cast5), modes, IV generators and hashes than qemu's defaults, both ways with qemu-img 7.2.</summary>
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

    private static void CreateWithImg(string path, string cipher) => DiskImage.Create(new CreateRequest(path, "qcow2")
    {
        Size = Size,
        Options = new ImageOptions().Parse(Options(cipher)),
        Secrets = new Dictionary<string, string> { ["sec0"] = "pw" },
    });

    /// <summary>img's info of the image, human and JSON, equals qemu-img's.</summary>
    private static void AssertInfoAsQemu(string path)
    {
        using var opened = DiskImage.Open(path, new OpenOptions { OpenBacking = false, MetadataOnly = true });
        var info = global::ImageTool.Operations.InfoOperation.Describe(opened);
        Assert.That(ImageInfoFormatter.Json([info], false), Is.EqualTo(Tools.QemuImg("info", "--output=json", path).Ok().Stdout));
        Assert.That(ImageInfoFormatter.Human([info]), Is.EqualTo(Tools.QemuImg("info", path).Ok().Stdout));
    }

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
    [TestCase("encrypt.cipher-alg=twofish-256,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256")]
    [TestCase("encrypt.cipher-alg=twofish-128,encrypt.cipher-mode=ctr,encrypt.ivgen-alg=plain")]
    [TestCase("encrypt.cipher-alg=serpent-256,encrypt.cipher-mode=xts,encrypt.ivgen-alg=plain64")]
    [TestCase("encrypt.cipher-alg=serpent-128,encrypt.cipher-mode=ecb,encrypt.hash-alg=sha512")]
    [TestCase("encrypt.cipher-alg=cast5-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=md5")]
    [TestCase("encrypt.cipher-alg=cast5-128,encrypt.cipher-mode=ctr,encrypt.ivgen-alg=plain64")]
    public void QemuMadeImage_ImgReadsAndInfoEqual_ImgMadeImage_QemuReads(string cipher)
    {
        using var dir = new TempDir();
        string q = dir["q.qcow2"];
        Tools.QemuImg(["create", .. Secret, "-q", "-f", "qcow2", "-o", Options(cipher), q, "2M"]).Ok();
        Tools.QemuIo([.. Secret, "--image-opts", ImageOpts(q), "-c", "write -P 0xab 1000 70000", "-c", "write -P 0xcd 1M 4096"]).Ok();
        Assert.That(ImgDecrypt(q), Is.EqualTo(QemuDecrypt(dir, q)));
        AssertInfoAsQemu(q);

        string mine = dir["i.qcow2"];
        CreateWithImg(mine, cipher);
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

    /// <summary>qemu-img's create takes seconds (it times PBKDF2), so most combinations are only checked this way round.</summary>
    [TestCase("encrypt.cipher-alg=twofish-128,encrypt.cipher-mode=xts,encrypt.ivgen-alg=plain64,encrypt.hash-alg=sha1")]
    [TestCase("encrypt.cipher-alg=twofish-192,encrypt.cipher-mode=xts,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=md5")]
    [TestCase("encrypt.cipher-alg=twofish-128,encrypt.cipher-mode=ecb,encrypt.hash-alg=sha512")]
    [TestCase("encrypt.cipher-alg=serpent-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256")]
    [TestCase("encrypt.cipher-alg=serpent-192,encrypt.cipher-mode=xts,encrypt.ivgen-alg=plain,encrypt.hash-alg=sha384")]
    [TestCase("encrypt.cipher-alg=serpent-256,encrypt.cipher-mode=ctr,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=md5")]
    [TestCase("encrypt.cipher-alg=cast5-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=plain,encrypt.hash-alg=sha1")]
    [TestCase("encrypt.cipher-alg=cast5-128,encrypt.cipher-mode=ecb")]
    [TestCase("encrypt.cipher-alg=twofish-256,encrypt.cipher-mode=xts,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256")]
    [TestCase("encrypt.cipher-alg=serpent-192,encrypt.cipher-mode=xts,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256")]
    [TestCase("encrypt.cipher-alg=serpent-256,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=plain")]
    [TestCase("encrypt.cipher-alg=cast5-128,encrypt.cipher-mode=ctr,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=md5")]
    public void ImgMadeImage_QemuChecksAndReads_InfoEqual(string cipher)
    {
        using var dir = new TempDir();
        string mine = dir["i.qcow2"];
        CreateWithImg(mine, cipher);
        var model = new byte[Size];
        using (var image = DiskImage.Open(mine, WithKey(readOnly: false)))
        {
            ModelWrites.Apply(image, model, 1000, 70_000, zero: false, mayDeallocate: false, seed: 1);
            ModelWrites.Apply(image, model, 1 << 20, 4096, zero: false, mayDeallocate: false, seed: 2);
        }
        Tools.QemuImg(["check", .. Secret, "--image-opts", ImageOpts(mine)]).Ok();
        Assert.That(QemuDecrypt(dir, mine), Is.EqualTo(model));
        Assert.That(ImgDecrypt(mine), Is.EqualTo(model));
        AssertInfoAsQemu(mine);
    }

    [TestCase("encrypt.cipher-alg=des,encrypt.cipher-mode=cbc", "Algorithm 'des' not supported")]
    [TestCase("encrypt.cipher-alg=3des,encrypt.cipher-mode=ecb", "Algorithm '3des' not supported")]
    [TestCase("encrypt.cipher-alg=sm4", "Parameter 'cipher-alg' does not accept value 'sm4'")]
    [TestCase("encrypt.cipher-alg=cast5-128", "Unsupported cipher mode xts")]
    [TestCase("encrypt.cipher-alg=cast5-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv", "Cipher cast5-128 not supported with essiv")]
    [TestCase("encrypt.cipher-alg=twofish-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha1", "No Twofish cipher with key size 20 available")]
    [TestCase("encrypt.cipher-alg=serpent-256,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha512", "No Serpent cipher with key size 64 available")]
    [TestCase("encrypt.cipher-alg=serpent-192,encrypt.cipher-mode=ecb", "Cipher serpent-192 in ecb mode is not supported: its key material is not a whole number of sectors")]
    [TestCase("encrypt.hash-alg=md5", "Unsupported hash algorithm md5")]
    [TestCase("encrypt.cipher-alg=aes-192,encrypt.cipher-mode=cbc", "Cipher aes-192 in cbc mode is not supported: its key material is not a whole number of sectors")]
    public void Create_CipherQemuRefusesOrAborts_ClearErrorNothingWritten(string cipher, string message)
    {
        using var dir = new TempDir();
        var e = Assert.Catch<ImageFormatException>(() => CreateWithImg(dir["x.qcow2"], cipher));
        Assert.That(e!.Message, Is.EqualTo(message));
        Assert.That(File.Exists(dir["x.qcow2"]), Is.False);
    }

    [TestCase("sm4")]
    [TestCase("des")]
    public void Open_HeaderNamesCipherQemuLacks_RefusedAsQemu(string name)
    {
        using var dir = new TempDir();
        string path = dir["x.qcow2"];
        CreateWithImg(path, "encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc");
        byte[] file = File.ReadAllBytes(path);
        int header = file.AsSpan().IndexOf(new byte[] { (byte)'L', (byte)'U', (byte)'K', (byte)'S', 0xba, 0xbe });
        System.Text.Encoding.ASCII.GetBytes(name.PadRight(3, '\0')).CopyTo(file, header + 8);
        File.WriteAllBytes(path, file);
        string message = $"Algorithm '{name}' with key size 16 bytes not supported";
        Assert.That(Tools.QemuImg("info", path).Stderr, Is.EqualTo($"qemu-img: Could not open '{path}': {message}\n"));
        var e = Assert.Catch<ImageFormatException>(() => DiskImage.Open(path, new OpenOptions { OpenBacking = false, MetadataOnly = true }));
        Assert.That(e!.Message, Does.EndWith(message));
    }
}
