using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>Encrypted qcow2 through the CLI: secrets via --object, -o encrypt.* and --image-opts, as qemu-img takes them.</summary>
[Category("Qemu")]
public class EncryptionCommandTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        Tools.Require("qemu-img");
        Tools.QemuImg("create", "-q", "-f", "qcow2", "--object", "secret,id=sec0,data=pw", "-o", "encrypt.format=aes,encrypt.key-secret=sec0", _dir["aes.qcow2"], "1M").Ok();
        Tools.QemuIo("--object", "secret,id=sec0,data=pw", "--image-opts", $"driver=qcow2,file.filename={_dir["aes.qcow2"]},encrypt.key-secret=sec0",
            "-c", "write -P 0x3c 4k 8k").Ok();
        File.WriteAllText(_dir["pw.txt"], "pw");
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private void Clean()
    {
        foreach (var f in new[] { "new.qcow2", "out.raw" }) File.Delete(_dir[f]);
    }

    [TestCase("create -f qcow2 --object secret,id=sec0,data=pw -o encrypt.format=aes,encrypt.key-secret=sec0 new.qcow2 1M")]
    [TestCase("create -f qcow2 --object secret,id=sec0,data=pw -o encryption=on,encrypt.key-secret=sec0 new.qcow2 1M")]
    [TestCase("create -f qcow2 -o encrypt.format=aes new.qcow2 1M")]
    [TestCase("create -f qcow2 -o encrypt.format=aes,encrypt.key-secret=nope new.qcow2 1M")]
    [TestCase("create -f qcow2 --object secret,id=sec0,data=pw -o encrypt.format=foo,encrypt.key-secret=sec0 new.qcow2 1M")]
    [TestCase("convert -c --object secret,id=sec0,data=pw -O qcow2 -o encrypt.format=aes,encrypt.key-secret=sec0 pw.txt new.qcow2")]
    [TestCase("create -f qcow2 --object secret,id=sec0,data=pw -o encrypt.format=luks,encrypt.key-secret=sec0,encrypt.cipher-alg=aes-999 new.qcow2 1M")]
    [TestCase("create -f qcow2 --object secret,id=sec0,data=pw -o encrypt.format=luks,encrypt.key-secret=sec0,encrypt.cipher-mode=bogus new.qcow2 1M")]
    [TestCase("create -f qcow2 --object secret,id=sec0,data=pw -o encrypt.format=luks,encrypt.key-secret=sec0,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha1 new.qcow2 1M")]
    [TestCase("create -f qcow2 --object secret,id=sec0,data=pw -o encrypt.format=luks,encrypt.key-secret=sec0,encrypt.hash-alg=sha3 new.qcow2 1M")]
    [TestCase("create -f qcow2 --object secret,id=sec0,data=pw -o encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10,encrypt.cipher-alg=twofish-256,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256 new.qcow2 1M")]
    [TestCase("create -f qcow2 --object secret,id=sec0,data=pw -o encrypt.format=luks,encrypt.key-secret=sec0,encrypt.cipher-alg=3des new.qcow2 1M")]
    [TestCase("create -f qcow2 --object secret,id=sec0,data=pw -o encrypt.format=luks,encrypt.key-secret=sec0,encrypt.cipher-alg=cast5-128,encrypt.cipher-mode=xts new.qcow2 1M")]
    [TestCase("create -f qcow2 --object secret,id=sec0,data=pw -o encrypt.format=luks,encrypt.key-secret=sec0,encrypt.cipher-alg=serpent-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha1 new.qcow2 1M")]
    [TestCase("convert --object secret,id=sec0,data=pw --image-opts driver=qcow2,file.filename=nonexist.qcow2,encrypt.key-secret=sec0 -O raw out.raw")]
    [TestCase("convert --object secret,id=sec0,data=pw --image-opts driver=qcow2,file.filename=aes.qcow2,encrypt.key-secret=nope -O raw out.raw")]
    [TestCase("info aes.qcow2")]
    [TestCase("info --output=json aes.qcow2")]
    [TestCase("convert -O raw aes.qcow2 out.raw")]
    [TestCase("convert --object secret,id=sec0,data=pw --image-opts driver=qcow2,file.filename=aes.qcow2,encrypt.key-secret=sec0 -O raw out.raw")]
    [TestCase("convert --object secret,id=sec0,file=pw.txt --image-opts driver=qcow2,file.filename=aes.qcow2,encrypt.key-secret=sec0 -O raw out.raw")]
    public void Encryption_SameAsQemuImg(string command)
    {
        Img.AssertSameAsQemu(_dir.Path, command.Split(' '), Clean);
        if (command.StartsWith("convert", StringComparison.Ordinal) && File.Exists(_dir["out.raw"]))
        {
            byte[] data = File.ReadAllBytes(_dir["out.raw"]);
            Assert.That(data.AsSpan(4096, 8192).ToArray(), Is.All.EqualTo(0x3c));
        }
    }

    [TestCase("")]
    [TestCase(",encrypt.cipher-alg=serpent-256,encrypt.cipher-mode=xts,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256")]
    [TestCase(",encrypt.cipher-alg=cast5-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=md5")]
    public void ConvertToLuksTarget_QemuReadsItBack(string cipher)
    {
        SeededData.WriteRaw(_dir["in.raw"], 2 << 20, 9, (0, 70000), (1 << 20, 4096));
        Img.Run(_dir.Path, "convert", "--object", "secret,id=sec0,data=pw", "-O", "qcow2", "-o",
            "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10" + cipher, "in.raw", "l.qcow2").Ok();
        Tools.RunIn(_dir.Path, "qemu-img", "convert", "--object", "secret,id=sec0,data=pw", "--image-opts",
            "driver=qcow2,file.filename=l.qcow2,encrypt.key-secret=sec0", "-O", "raw", "back.raw").Ok();
        Assert.That(File.ReadAllBytes(_dir["back.raw"]), Is.EqualTo(File.ReadAllBytes(_dir["in.raw"])));
        var wrong = Img.Run(_dir.Path, "convert", "--object", "secret,id=sec0,data=nope", "--image-opts",
            "driver=qcow2,file.filename=l.qcow2,encrypt.key-secret=sec0", "-O", "raw", "x.raw");
        Assert.That(wrong.ExitCode, Is.EqualTo(1));
        Assert.That(wrong.Stderr, Is.EqualTo("img: Could not open 'driver=qcow2,file.filename=l.qcow2,encrypt.key-secret=sec0': Invalid password, cannot unlock any keyslot\n"));
    }

    [Test]
    public void QemuTwofishImage_ImgConvertsIt()
    {
        Tools.QemuImg("create", "-q", "-f", "qcow2", "--object", "secret,id=sec0,data=pw", "-o",
            "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10,encrypt.cipher-alg=twofish-128,encrypt.cipher-mode=xts", _dir["t.qcow2"], "1M").Ok();
        string opts = $"driver=qcow2,file.filename={_dir["t.qcow2"]},encrypt.key-secret=sec0";
        Tools.QemuIo("--object", "secret,id=sec0,data=pw", "--image-opts", opts, "-c", "write -P 7 0 64k").Ok();
        Img.Run(_dir.Path, "convert", "--object", "secret,id=sec0,data=pw", "--image-opts", opts, "-O", "raw", "mine.raw").Ok();
        Tools.RunIn(_dir.Path, "qemu-img", "convert", "--object", "secret,id=sec0,data=pw", "--image-opts", opts, "-O", "raw", "theirs.raw").Ok();
        Assert.That(File.ReadAllBytes(_dir["mine.raw"]), Is.EqualTo(File.ReadAllBytes(_dir["theirs.raw"])));
        Assert.That(Img.Run(_dir.Path, "info", "t.qcow2").Ok().Stdout, Is.EqualTo(Tools.RunIn(_dir.Path, "qemu-img", "info", "t.qcow2").Ok().Stdout));
    }
}
