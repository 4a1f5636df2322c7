using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// img amend of LUKS key slots on qcow2 against qemu-img 7.2: the same messages (refusals leave the file as it was),
/// and images amended by one tool open in the other with the new password.
/// </summary>
[Category("Qemu")]
public class LuksAmendGoldenTests : QemuGoldenTestBase
{
    private const string Secrets = "--object secret,id=s0,data=pw0 --object secret,id=s1,data=pw1 --object secret,id=s2,data=pw2";
    private static readonly string[] SecretArgs = Secrets.Split(' ');

    private TempDir _templates = null!;

    [OneTimeSetUp]
    public void CreateTemplate()
    {
        Tools.Require("qemu-img");
        _templates = new TempDir();
        SeededData.WriteRaw(_templates["data.raw"], 1 << 20, 17, (0, 70000), (600 << 10, 4096));
        Tools.QemuImg([.. "convert -O qcow2".Split(' '), .. SecretArgs, "-o", "encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10",
            _templates["data.raw"], _templates["base.qcow2"]]).Ok();
    }

    [OneTimeTearDown]
    public void DeleteTemplate() => _templates.Dispose();

    private static string ImageOpts(string secret) => $"driver=qcow2,file.filename=a.qcow2,encrypt.key-secret={secret}";

    private void FreshImage() => File.Copy(_templates["base.qcow2"], Dir["a.qcow2"], overwrite: true);

    private string[] Amend(string options, string secret = "s0", string extra = "") =>
        [.. "amend".Split(' '), .. SecretArgs, .. extra.Split(' ', StringSplitOptions.RemoveEmptyEntries), "-o", options, "--image-opts", ImageOpts(secret)];

    [TestCase("encrypt.new-secret=s1")]
    [TestCase("encrypt.state=foo,encrypt.keyslot=18446744073709551615")]
    [TestCase("encrypt.state=active,encrypt.keyslot=9223372036854775808")]
    [TestCase("encrypt.state=active,encrypt.iter-time=18446744073709551615")]
    [TestCase("encrypt.state=active,encrypt.keyslot=18446744073709551616")]
    [TestCase("encrypt.state=active,encrypt.keyslot=1e1")]
    [TestCase("encrypt.state=active,encrypt.iter-time=10")]
    [TestCase("encrypt.state=active,encrypt.new-secret=s1,encrypt.old-secret=s0")]
    [TestCase("encrypt.state=active,encrypt.new-secret=s1,encrypt.keyslot=8")]
    [TestCase("encrypt.state=active,encrypt.new-secret=s1,encrypt.keyslot=-1")]
    [TestCase("encrypt.state=active,encrypt.new-secret=s1,encrypt.keyslot=2147483648")]
    [TestCase("encrypt.state=active,encrypt.new-secret=s1,encrypt.keyslot=4294967296")]
    [TestCase("encrypt.state=active,encrypt.new-secret=s1,encrypt.keyslot=0")]
    [TestCase("encrypt.state=active,encrypt.new-secret=nope,encrypt.keyslot=1")]
    [TestCase("encrypt.state=inactive")]
    [TestCase("encrypt.state=inactive,encrypt.new-secret=s1")]
    [TestCase("encrypt.state=inactive,encrypt.keyslot=1,encrypt.iter-time=10")]
    [TestCase("encrypt.state=inactive,encrypt.old-secret=nope")]
    [TestCase("encrypt.state=inactive,encrypt.keyslot=-3")]
    [TestCase("encrypt.state=inactive,encrypt.keyslot=2147483648")]
    [TestCase("encrypt.state=inactive,encrypt.keyslot=1")]
    [TestCase("encrypt.state=inactive,encrypt.keyslot=0")]
    [TestCase("encrypt.state=inactive,encrypt.keyslot=0,encrypt.old-secret=s1")]
    [TestCase("encrypt.state=inactive,encrypt.old-secret=s0")]
    [TestCase("encrypt.state=inactive,encrypt.old-secret=s1")]
    public void Refusal_SameAsQemuImg_FileUnchanged(string options)
    {
        Img.AssertSameAsQemu(Dir.Path, Amend(options), FreshImage);
        Assert.That(File.ReadAllBytes(Dir["a.qcow2"]), Is.EqualTo(File.ReadAllBytes(_templates["base.qcow2"])));
    }

    [TestCase("encrypt.state=active,encrypt.new-secret=s1,encrypt.iter-time=10", "")]
    [TestCase("encrypt.state=active,encrypt.new-secret=s1,encrypt.iter-time=10,encrypt.keyslot=0", "--force")]
    [TestCase("encrypt.state=inactive,encrypt.keyslot=0", "--force -p")]
    [TestCase("encrypt.state=inactive,encrypt.keyslot=3", "--force")]
    public void Success_SameAsQemuImg(string options, string extra) => Img.AssertSameAsQemu(Dir.Path, Amend(options, extra: extra), FreshImage);

    [Test]
    public void WrongPassword_SameAsQemuImg() =>
        Img.AssertSameAsQemu(Dir.Path, Amend("encrypt.state=active,encrypt.new-secret=s2", "s1"), FreshImage);

    [Test]
    public void ImgAmends_QemuOpensWithNewSecretOnly_InfoSameAsQemuImg()
    {
        FreshImage();
        Img.Run(Dir.Path, Amend("encrypt.state=active,encrypt.new-secret=s1,encrypt.iter-time=10")).Ok();
        Img.Run(Dir.Path, Amend("encrypt.state=active,encrypt.new-secret=s2,encrypt.iter-time=10,encrypt.keyslot=6", "s1")).Ok();
        Img.Run(Dir.Path, Amend("encrypt.state=inactive,encrypt.old-secret=s0", "s2")).Ok();

        foreach (string format in new[] { "human", "json" })
        {
            string[] info = ["info", "--output=" + format, "a.qcow2"];
            Assert.That(Img.Run(Dir.Path, info).Ok().Stdout, Is.EqualTo(Tools.RunIn(Dir.Path, "qemu-img", info).Ok().Stdout));
        }
        Assert.That(Tools.RunIn(Dir.Path, "qemu-img", [.. "info --output=json".Split(' '), "a.qcow2"]).Stdout,
            Does.Contain("\"active\": false").And.Contain("\"active\": true"));
        Tools.RunIn(Dir.Path, "qemu-img", ["check", .. SecretArgs, "--image-opts", ImageOpts("s1")]).Ok();
        foreach (string secret in new[] { "s1", "s2" })
        {
            File.Delete(Dir["back.raw"]);
            Tools.RunIn(Dir.Path, "qemu-img", ["convert", .. SecretArgs, "--image-opts", ImageOpts(secret), "-O", "raw", "back.raw"]).Ok();
            Assert.That(File.ReadAllBytes(Dir["back.raw"]), Is.EqualTo(File.ReadAllBytes(_templates["data.raw"])), secret);
        }
        var old = Tools.RunIn(Dir.Path, "qemu-io", [.. SecretArgs, "--image-opts", ImageOpts("s0"), "-c", "read 0 4k"]);
        Assert.That(old.Stderr, Is.EqualTo("qemu-io: can't open: Invalid password, cannot unlock any keyslot\n"));
    }

    [Test]
    public void QemuAmends_ImgOpensWithNewSecretOnly()
    {
        FreshImage();
        Tools.RunIn(Dir.Path, "qemu-img", Amend("encrypt.state=active,encrypt.new-secret=s1,encrypt.iter-time=10")).Ok();
        Tools.RunIn(Dir.Path, "qemu-img", Amend("encrypt.state=inactive,encrypt.keyslot=0", "s1")).Ok();
        string[] info = ["info", "a.qcow2"];
        Assert.That(Img.Run(Dir.Path, info).Ok().Stdout, Is.EqualTo(Tools.RunIn(Dir.Path, "qemu-img", info).Ok().Stdout));
        Img.Run(Dir.Path, ["convert", .. SecretArgs, "--image-opts", ImageOpts("s1"), "-O", "raw", "back.raw"]).Ok();
        Assert.That(File.ReadAllBytes(Dir["back.raw"]), Is.EqualTo(File.ReadAllBytes(_templates["data.raw"])));
        var old = Img.Run(Dir.Path, ["convert", .. SecretArgs, "--image-opts", ImageOpts("s0"), "-O", "raw", "old.raw"]);
        Assert.That(old.Stderr, Is.EqualTo($"img: Could not open '{ImageOpts("s0")}': Invalid password, cannot unlock any keyslot\n"));
    }
}
