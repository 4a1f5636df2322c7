using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// The name <c>info</c> gives an image opened from options, as qemu's bdrv_refresh_filename: the file's name while
/// nothing but the driver and file are given, a <c>json:{...}</c> of the options once a driver's strong option
/// (vpc force_size_calc, raw offset/size, blkdebug rules, null size, luks key-secret) changes what the node
/// shows (qemu-iotests 110). img and qemu-img on the same files.
/// </summary>
[Category("Qemu")]
public class ImageNameGoldenTests : QemuGoldenTestBase
{
    private void Qemu(params string[] args) => Tools.RunIn(Dir.Path, "qemu-img", args).Ok();

    [SetUp]
    public void CreateImages()
    {
        Qemu("create", "-q", "-f", "vpc", "v.vpc", "10M");
        Qemu("create", "-q", "-f", "raw", "r.raw", "10M");
        Qemu("create", "-q", "-f", "qcow2", "q.qcow2", "10M");
    }

    private void Same(params string[] args)
    {
        Img.AssertSameAsQemu(Dir.Path, args);
        Img.AssertSameAsQemu(Dir.Path, ["info", "--output=json", .. args[1..]]);
    }

    [TestCase("driver=vpc,force_size_calc=chs,file.filename=v.vpc")]
    [TestCase("driver=vpc,force_size_calc=current_size,file.driver=file,file.filename=v.vpc")]
    [TestCase("driver=vpc,file.filename=v.vpc")]
    [TestCase("driver=raw,file.driver=file,file.filename=r.raw,file.locking=off")]
    [TestCase("driver=file,filename=r.raw")]
    [TestCase("driver=null-co,size=1M")]
    [TestCase("driver=null-co,latency-ns=5")]
    [TestCase("driver=qcow2,file.driver=blkdebug,file.image.filename=q.qcow2")]
    [TestCase("driver=qcow2,file.driver=blkdebug,file.image.filename=q.qcow2,file.align=4096")]
    [TestCase("driver=qcow2,file.driver=blkdebug,file.image.filename=q.qcow2,file.inject-error.0.event=l1_update,"
        + "file.set-state.0.event=l1_update,file.set-state.0.new_state=2")]
    [TestCase("driver=vpc,force_size_calc=chs,file.driver=blkdebug,file.image.filename=v.vpc")]
    public void Info_ImageOpts_NamesTheImageAsQemuImg(string options) => Same("info", "--image-opts", options);

    [TestCase("""{"driver":"vpc","force_size_calc":"chs","file":{"driver":"file","filename":"v.vpc"}}""")]
    [TestCase("""{"driver":"raw","file":{"driver":"file","filename":"r.raw","aio":"threads"}}""")]
    [TestCase("""{"driver":"qcow2","file":{"driver":"blkdebug","image":{"driver":"file","filename":"q.qcow2"},"set-state":[{"event":"read_aio","new_state":42}]}}""")]
    public void Info_JsonName_NamesTheImageAsQemuImg(string json) => Same("info", "json:" + json);

    [TestCase("driver=raw,offset=512,file.filename=r.raw")]
    [TestCase("driver=raw,offset=1M,size=2M,file.filename=r.raw")]
    [TestCase("driver=raw,offset=10M,file.filename=r.raw")]
    [TestCase("driver=raw,offset=20M,file.filename=r.raw")]
    [TestCase("driver=raw,offset=1M,size=10M,file.filename=r.raw")]
    [TestCase("driver=raw,offset=1M,size=1000,file.filename=r.raw")]
    public void Info_RawWindow_AsQemuImg(string options) => Same("info", "--image-opts", options);

    [TestCase("""{"driver":"raw","offset":1024,"file":{"driver":"file","filename":"r.raw"}}""")]
    [TestCase("""{"driver":"raw","size":512,"offset":0,"file":{"driver":"file","filename":"r.raw","locking":false}}""")]
    public void Info_RawWindowJsonName_AsQemuImg(string json) => Same("info", "json:" + json);

    /// <summary>qemu-iotests 171: raw's offset and size show a window of the file; writes stay inside it.</summary>
    [Test]
    public void RawWindow_ReadsMapsAndResizesAsQemuImg()
    {
        Tools.RunIn(Dir.Path, "qemu-io", "-f", "raw", "-c", "write -P 0x11 0 1M", "-c", "write -P 0x22 1M 1M", "-c", "write -P 0x33 3M 64k", "r.raw").Ok();
        const string window = "driver=raw,offset=1M,size=3M,file.filename=r.raw";
        Img.AssertSameAsQemu(Dir.Path, ["map", "--output=json", "--image-opts", window]);
        Img.AssertSameAsQemu(Dir.Path, ["compare", "--image-opts", window, "driver=raw,offset=1M,size=3M,file.filename=r.raw"]);
        Img.Run(Dir.Path, "convert", "-O", "raw", "--image-opts", window, "img.raw").Ok();
        Qemu("convert", "-O", "raw", "--image-opts", window, "qemu.raw");
        Assert.That(File.ReadAllBytes(Dir["img.raw"]), Is.EqualTo(File.ReadAllBytes(Dir["qemu.raw"])));
        Img.AssertSameAsQemu(Dir.Path, ["resize", "--image-opts", window, "5M"]);
        File.Copy(Dir["r.raw"], Dir["q2.raw"]);
        Qemu("resize", "--image-opts", "driver=raw,offset=1M,file.filename=q2.raw", "12M");
        Img.Run(Dir.Path, "resize", "--image-opts", "driver=raw,offset=1M,file.filename=r.raw", "12M").Ok();
        Assert.That(new FileInfo(Dir["r.raw"]).Length, Is.EqualTo(new FileInfo(Dir["q2.raw"]).Length));
    }

    /// <summary>qemu-iotests 162: blkdebug's name shows its config however it was given, here as a JSON number.</summary>
    [Test]
    public void Info_BlkdebugOverNullWithNumericConfig_IsNamedAsQemuImg()
    {
        File.WriteAllText(Dir["42"], "");
        // Only the name: qemu reports the format of a blkdebug node on top as "blkdebug", img the image's (a known difference).
        const string name = """json:{"driver": "blkdebug", "config": 42, "image.driver": "null-co"}""";
        string qemu = Tools.RunIn(Dir.Path, "qemu-img", "info", name).Ok().Stdout.Split('\n')[0];
        Assert.That(Img.Run(Dir.Path, "info", name).Ok().Stdout.Split('\n')[0], Is.EqualTo(qemu).And.EqualTo("image: blkdebug:42:null-co://"));
    }

    /// <summary>qemu-iotests 162: nbd's keys from before <c>server.*</c> (<c>path</c>) still name the server.</summary>
    [Test]
    public void Info_NbdLegacyPathKey_ReachesTheServerAsQemuImg()
    {
        using var peer = Nbd.NbdPeer.QemuNbd(Dir, "n", "null-co://", "-f", "raw", "-t");
        Img.AssertSameAsQemu(Dir.Path, ["info", $$"""json:{"driver": "nbd", "path": "{{peer.Socket}}"}"""]);
        Img.AssertSameAsQemu(Dir.Path, ["info", "--output=json", $$"""json:{"driver": "nbd", "path": "{{peer.Socket}}"}"""]);
    }

    /// <summary>luks: the key secret is a strong option, so the image is named by its options.</summary>
    [Test]
    public void Info_LuksWithKeySecret_IsNamedByItsOptions()
    {
        Qemu("create", "-q", "--object", "secret,id=s0,data=pw", "-f", "luks", "-o", "key-secret=s0,iter-time=10", "l.luks", "1M");
        Same("info", "--object", "secret,id=s0,data=pw", "--image-opts", "driver=luks,key-secret=s0,file.filename=l.luks");
    }
}
