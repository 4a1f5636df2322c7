using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>qemu's raw luks driver through the CLI: every command's output, errors and exit code as qemu-img's on the same files.</summary>
[Category("Qemu")]
public class LuksCommandTests
{
    private TempDir _dir = null!;
    private byte[] _template = [];

    [OneTimeSetUp]
    public void CreateTemplate()
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        Tools.QemuImg("create", "-q", "-f", "luks", "--object", "secret,id=s0,data=pw", "-o", "key-secret=s0,iter-time=10", dir["l.luks"], "3M").Ok();
        Tools.QemuIo("--object", "secret,id=s0,data=pw", "--image-opts", $"driver=luks,file.filename={dir["l.luks"]},key-secret=s0",
            "-c", "write -P 0x3c 4k 8k", "-c", "write -z 1M 1M").Ok();
        _template = File.ReadAllBytes(dir["l.luks"]);
    }

    [SetUp]
    public void SetUp() => _dir = new TempDir();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private void Fresh()
    {
        File.WriteAllBytes(_dir["l.luks"], _template);
        foreach (var f in new[] { "new.luks", "out.raw" }) File.Delete(_dir[f]);
        SeededData.WriteRaw(_dir["in.raw"], 1 << 20, 5, (0, 70000), (600 << 10, 4096));
    }

    private const string Key = "--object secret,id=s0,data=pw --object secret,id=s1,data=new --image-opts driver=luks,file.filename=l.luks,key-secret=s0";

    [TestCase("info l.luks")]
    [TestCase("info --output=json l.luks")]
    [TestCase("info -f luks in.raw")]
    [TestCase("convert -O raw l.luks out.raw")]
    [TestCase("convert " + Key + " -O raw out.raw")]
    [TestCase("convert --object secret,id=s0,data=bad --image-opts driver=luks,file.filename=l.luks,key-secret=s0 -O raw out.raw")]
    [TestCase("convert --image-opts driver=luks,file.filename=l.luks,key-secret=s9 -O raw out.raw")]
    [TestCase("check l.luks")]
    [TestCase("check " + Key)]
    [TestCase("map " + Key)]
    [TestCase("map --output=json " + Key)]
    [TestCase("compare " + Key + " driver=luks,file.filename=l.luks,key-secret=s0")]
    [TestCase("snapshot -l l.luks")]
    [TestCase("resize l.luks 20M")]
    [TestCase("resize " + Key + " +1M")]
    [TestCase("resize --shrink " + Key + " 1M")]
    [TestCase("amend -f luks -o help l.luks")]
    [TestCase("amend -o state=active,new-secret=s1,keyslot=9 " + Key)]
    [TestCase("amend -o state=inactive,keyslot=0 " + Key)]
    [TestCase("amend -o state=active " + Key)]
    [TestCase("amend -o size=1M " + Key)]
    [TestCase("create -f luks -o help")]
    [TestCase("create -f luks -o help new.luks")]
    [TestCase("create -q -f luks new.luks 1M")]
    [TestCase("create -q -f luks --object secret,id=s0,data=pw -o key-secret=nope new.luks 1M")]
    [TestCase("create -q -f luks --object secret,id=s0,data=pw -o key-secret=s0,cipher-alg=foo new.luks 1M")]
    [TestCase("create -q -f luks --object secret,id=s0,data=pw -o key-secret=s0,cipher-alg=3des new.luks 1M")]
    [TestCase("create -q -f luks --object secret,id=s0,data=pw -o key-secret=s0,hash-alg=foo new.luks 1M")]
    [TestCase("create -q -f luks --object secret,id=s0,data=pw -o key-secret=s0,preallocation=foo new.luks 1M")]
    [TestCase("create -q -f luks --object secret,id=s0,data=pw -o key-secret=s0,iter-time=abc new.luks 1M")]
    [TestCase("measure --object secret,id=s0,data=pw --size 100M -O luks -o key-secret=s0")]
    [TestCase("measure --size 1M -O luks")]
    [TestCase("measure --object secret,id=s0,data=pw --size 1M -O luks -o key-secret=s0,cipher-alg=aes-128,cipher-mode=cbc")]
    public void Luks_SameAsQemuImg(string command) => Img.AssertSameAsQemu(_dir.Path, command.Split(' '), Fresh);

    [TestCase("")]
    [TestCase(",preallocation=full")]
    [TestCase(",cipher-alg=twofish-128,cipher-mode=cbc,ivgen-alg=essiv")]
    public void ConvertToLuks_BothWays(string options)
    {
        Fresh();
        string[] secret = ["--object", "secret,id=s0,data=pw"];
        Img.Run(_dir.Path, ["convert", .. secret, "-O", "luks", "-o", "key-secret=s0,iter-time=10" + options, "in.raw", "img.luks"]).Ok();
        Tools.RunIn(_dir.Path, "qemu-img", ["convert", .. secret, "-O", "luks", "-o", "key-secret=s0,iter-time=10" + options, "in.raw", "q.luks"]).Ok();
        // The zero runs of in.raw must be written encrypted: an unwritten payload decrypts to noise.
        Tools.RunIn(_dir.Path, "qemu-img", ["compare", .. secret, "--image-opts", "driver=luks,file.filename=img.luks,key-secret=s0", "driver=raw,file.filename=in.raw"]).Ok();
        Img.Run(_dir.Path, ["compare", .. secret, "--image-opts", "driver=luks,file.filename=q.luks,key-secret=s0", "driver=raw,file.filename=in.raw"]).Ok();
        Assert.That(new FileInfo(_dir["img.luks"]).Length, Is.EqualTo(new FileInfo(_dir["q.luks"]).Length));
    }

    [Test]
    public void AmendAddsSlot_QemuOpensWithIt_EraseByOldPassword()
    {
        Fresh();
        string[] keys = ["--object", "secret,id=s0,data=pw", "--object", "secret,id=s1,data=new"];
        Img.Run(_dir.Path, ["amend", .. keys, "-o", "state=active,new-secret=s1,keyslot=3,iter-time=10", "--image-opts", "driver=luks,file.filename=l.luks,key-secret=s0"]).Ok();
        Tools.RunIn(_dir.Path, "qemu-img", ["convert", .. keys, "--image-opts", "driver=luks,file.filename=l.luks,key-secret=s1", "-O", "raw", "out.raw"]).Ok();
        Img.Run(_dir.Path, ["amend", .. keys, "-o", "state=inactive,old-secret=s0", "--image-opts", "driver=luks,file.filename=l.luks,key-secret=s1"]).Ok();
        var refused = Tools.RunIn(_dir.Path, "qemu-img", ["convert", .. keys, "--image-opts", "driver=luks,file.filename=l.luks,key-secret=s0", "-O", "raw", "out.raw"]);
        Assert.That(refused.Stderr, Does.Contain("Invalid password, cannot unlock any keyslot"));
        Assert.That(File.ReadAllBytes(_dir["out.raw"]).AsSpan(4096, 8192).ToArray(), Is.All.EqualTo(0x3c));
    }
}
