using ImageTool.Info;
using ImageTool.Options;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Qcow2;

public class Qcow2EncryptionTests
{
    private const long Size = 4L << 20;
    private const string Password = "correct horse";

    private static OpenOptions WithKey(bool readOnly, string password = Password) => new()
    {
        ReadOnly = readOnly,
        Format = "qcow2",
        DriverOptions = new ImageOptions().Parse("encrypt.key-secret=sec0"),
        Secrets = new Dictionary<string, string> { ["sec0"] = password },
    };

    private static string[] QemuSecret(string password = Password) => ["--object", $"secret,id=sec0,data={password}"];

    private static string ImageOpts(string path) => $"driver=qcow2,file.filename={path},encrypt.key-secret=sec0";

    private TempDir _templates = null!;

    [OneTimeSetUp]
    public void SetUpTemplates() => _templates = new TempDir();

    [OneTimeTearDown]
    public void TearDownTemplates() => _templates.Dispose();

    /// <summary>qemu-img's LUKS set-up benchmarks PBKDF2 for seconds on a busy machine, so each template is made once.</summary>
    private void QemuCreate(string path, string format)
    {
        string template = _templates[format + ".qcow2"];
        if (!File.Exists(template))
        {
            Tools.QemuImg(["create", "-q", "-f", "qcow2", .. QemuSecret(), "-o",
                $"encrypt.format={format},encrypt.key-secret=sec0" + (format == "luks" ? ",encrypt.iter-time=10" : ""), template, "4M"]).Ok();
        }
        File.Copy(template, path);
    }

    private static void ImgCreate(string path, string format)
    {
        var o = new ImageOptions().Parse($"encrypt.format={format},encrypt.key-secret=sec0" + (format == "luks" ? ",encrypt.iter-time=10" : ""));
        DiskImage.Create(new CreateRequest(path, "qcow2") { Size = Size, Options = o, Secrets = new Dictionary<string, string> { ["sec0"] = Password } });
    }

    private static byte[] QemuDecrypt(TempDir dir, string path)
    {
        Tools.QemuImg(["convert", .. QemuSecret(), "--image-opts", ImageOpts(path), "-O", "raw", dir["plain.raw"]]).Ok();
        return File.ReadAllBytes(dir["plain.raw"]);
    }

    [TestCase("aes")]
    [TestCase("luks")]
    public void Read_ImageWrittenByQemuIo_IsBitExact(string format)
    {
        using var dir = new TempDir();
        string img = dir["q.qcow2"];
        QemuCreate(img, format);
        Tools.QemuIo([.. QemuSecret(), "--image-opts", ImageOpts(img), "-c", "write -P 0xab 0 64k", "-c", "write -P 0xcd 100000 3000", "-c", "write -z 1M 64k"]).Ok();
        byte[] expected = QemuDecrypt(dir, img);
        using var image = DiskImage.Open(img, WithKey(readOnly: true));
        var back = new byte[Size];
        image.Read(0, back);
        Assert.That(back, Is.EqualTo(expected));
        Assert.That(back.AsSpan(0, 65536).ToArray(), Is.All.EqualTo(0xab));
    }

    [TestCase("aes")]
    [TestCase("luks")]
    public void Write_ImgImage_QemuDecryptsSameDataAndCheckIsClean(string format)
    {
        using var dir = new TempDir();
        string img = dir["i.qcow2"];
        ImgCreate(img, format);
        var model = new byte[Size];
        using (var image = DiskImage.Open(img, WithKey(readOnly: false)))
        {
            var rnd = new Random(5);
            for (int i = 0; i < 12; i++)
            {
                long off = rnd.NextInt64(Size - 100_000);
                byte[] data = SeededData.Bytes(rnd.Next(1, 100_000), i);
                image.Write(off, data);
                data.CopyTo(model, off);
            }
            image.Flush();
        }
        Tools.QemuImg(["check", .. QemuSecret(), "--image-opts", ImageOpts(img)]).Ok();
        Assert.That(QemuDecrypt(dir, img), Is.EqualTo(model));
        using var reopened = DiskImage.Open(img, WithKey(readOnly: true));
        var back = new byte[Size];
        reopened.Read(0, back);
        Assert.That(back, Is.EqualTo(model));
    }

    [TestCase("aes")]
    [TestCase("luks")]
    public void Info_MatchesQemuImg(string format)
    {
        using var dir = new TempDir();
        string img = dir["q.qcow2"];
        QemuCreate(img, format);
        using var opened = DiskImage.Open(img, new OpenOptions { OpenBacking = false, MetadataOnly = true });
        string mine = ImageInfoFormatter.Json([global::ImageTool.Operations.InfoOperation.Describe(opened)], false);
        Assert.That(mine, Is.EqualTo(Tools.QemuImg("info", "--output=json", img).Ok().Stdout));
        Assert.That(ImageInfoFormatter.Human([global::ImageTool.Operations.InfoOperation.Describe(opened)]), Is.EqualTo(Tools.QemuImg("info", img).Ok().Stdout));
    }

    [Test]
    public void Open_LuksWrongPassword_ClearErrorNothingWritten()
    {
        using var dir = new TempDir();
        string img = dir["q.qcow2"];
        QemuCreate(img, "luks");
        byte[] before = File.ReadAllBytes(img);
        var e = Assert.Throws<ImageFormatException>(() => DiskImage.Open(img, WithKey(readOnly: false, password: "wrong")));
        Assert.That(e!.Message, Does.EndWith("Invalid password, cannot unlock any keyslot"));
        Assert.That(File.ReadAllBytes(img), Is.EqualTo(before));
    }

    [Test]
    public void Read_WithoutKey_FailsWithQemuMessage()
    {
        using var dir = new TempDir();
        string img = dir["q.qcow2"];
        QemuCreate(img, "aes");
        Tools.QemuIo([.. QemuSecret(), "--image-opts", ImageOpts(img), "-c", "write -P 1 0 4k"]).Ok();
        using var image = DiskImage.Open(img, new OpenOptions { MetadataOnly = true });
        Assert.That(image.GetInfo().Encrypted, Is.True);
        var e = Assert.Throws<ImageFormatException>(() => image.Read(0, new byte[512]));
        Assert.That(e!.Message, Is.EqualTo("Parameter 'encrypt.key-secret' is required for cipher"));
        var open = Assert.Throws<ImageFormatException>(() => DiskImage.Open(img));
        Assert.That(open!.Message, Does.EndWith("Parameter 'encrypt.key-secret' is required for cipher"));
    }

    [Test]
    public void Create_UnknownSecret_Fails()
    {
        using var dir = new TempDir();
        var o = new ImageOptions().Parse("encrypt.format=aes,encrypt.key-secret=nope");
        var e = Assert.Catch<ImageFormatException>(() => DiskImage.Create(new CreateRequest(dir["x.qcow2"], "qcow2") { Size = Size, Options = o }));
        Assert.That(e!.Message, Does.Contain("No secret with id 'nope'"));
    }
}
