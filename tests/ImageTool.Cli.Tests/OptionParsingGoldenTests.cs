using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// Option and file-name parsing as qemu-img's (qemu-iotests 049, 082, 089, 102, 110, 126): options given twice,
/// -o lists joined and checked, sizes with a zero fraction, convert -C refusals, json:{...} and file: names,
/// file.locking=off. img and qemu-img run on the same files and must print and exit the same.
/// </summary>
[Category("Qemu")]
public class OptionParsingGoldenTests : QemuGoldenTestBase
{
    private void Prepare()
    {
        foreach (var f in Directory.GetFiles(Dir.Path)) File.Delete(f);
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "qcow2", "a.qcow2", "4M").Ok();
        Tools.RunIn(Dir.Path, "qemu-io", "-c", "write -P 5 64k 64k", "a.qcow2").Ok();
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "qcow2", "file:a:b.qcow2", "4M").Ok();
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "raw", "r.raw", "1M").Ok();
    }

    private void Same(params string[] args) => Img.AssertSameAsQemu(Dir.Path, args, Prepare);

    [TestCase("create -f foo -f qcow2 o.qcow2 128M")]
    [TestCase("create -f qcow2 -o cluster_size=4k -o lazy_refcounts=on -o cluster_size=8k o.qcow2 128M")]
    [TestCase("create -f qcow2 -o cluster_size=4k,cluster_size=8k o.qcow2 128M")]
    [TestCase("create -f qcow2 o.qcow2 1024.0")]
    [TestCase("create -f qcow2 o.qcow2 1024.0b")]
    [TestCase("create -f qcow2 o.qcow2 1.5b")]
    [TestCase("create -f qcow2 -b  o.qcow2 1M")]
    [TestCase("create -f qcow2 -o size=1024.0b o.qcow2")]
    [TestCase("create -f qcow2 -o cluster_size=1024.0 o.qcow2 64M")]
    [TestCase("create -f qcow2 -o backing_file=a.qcow2, -o help o.qcow2 128M")]
    [TestCase("create -f qcow2 -o backing_file=a.qcow2 -o ,help o.qcow2 128M")]
    [TestCase("create -f qcow2 -o backing_file=a.qcow2 -o ,, -o help o.qcow2 128M")]
    [TestCase("create -f qcow2 -u -o backing_file=a.qcow2,,help -F qcow2 o.qcow2 128M")]
    [TestCase("create -f qcow2 -u -o backing_file=a.qcow2,,? -F qcow2 o.qcow2 128M")]
    [TestCase("convert -C -S 4k -O qcow2 a.qcow2 o.qcow2")]
    [TestCase("convert -C -c -O qcow2 a.qcow2 o.qcow2")]
    [TestCase("convert -C --salvage -O qcow2 a.qcow2 o.qcow2")]
    [TestCase("convert -O qcow2 -o backing_file=a.qcow2, -o help a.qcow2 o.qcow2")]
    [TestCase("convert -O qcow2 -o help a.qcow2 o.qcow2")]
    [TestCase("convert -O qcow2 -o help")]
    [TestCase("convert -O qcow2 -o backing_fmt=qcow2,backing_file=a.qcow2,,help a.qcow2 o.qcow2")]
    [TestCase("amend -f foo -f qcow2 -o lazy_refcounts=on a.qcow2")]
    [TestCase("amend -f qcow2 -o backing_file=a.qcow2,,help a.qcow2")]
    [TestCase("amend -f qcow2 -o backing_file=a.qcow2 -o ,help a.qcow2")]
    [TestCase("info file:a:b.qcow2")]
    [TestCase("info a:b.qcow2")]
    [TestCase("info ./a:b.qcow2")]
    [TestCase("info foo:bar")]
    [TestCase("create -f qcow2 c:d.qcow2 1M")]
    [TestCase("create -f qcow2 -b a:b.qcow2 -F qcow2 o.qcow2")]
    [TestCase("create -f qcow2 -b ./a:b.qcow2 -F qcow2 o.qcow2")]
    [TestCase("info -f qcow2 file:a:b.qcow2")]
    [TestCase("create -f qcow2 file:c:d.qcow2 1M")]
    [TestCase("create -f file o.raw 1M")]
    [TestCase("info json:{\"driver\":\"qcow2\",\"file.filename\":\"a.qcow2\"}")]
    [TestCase("info json:{'driver':'qcow2','file':{'driver':'file','filename':'a.qcow2'}}")]
    [TestCase("compare json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\",\"filename\":\"a.qcow2\"}} a.qcow2")]
    public void Command_MatchesQemuImg(string commandLine) => Same(commandLine.Split(' '));

    [Test]
    public void Info_OfNameWithColon_ThroughFilePrefix_ResolvesBackingNextToIt()
    {
        Prepare();
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", "file:o:top.qcow2").Ok();
        Same("info", "file:o:top.qcow2");
        Same("compare", "file:o:top.qcow2", "a.qcow2");
    }

    [Test]
    public void JsonBackingName_IsOpenedAsOptions()
    {
        Prepare();
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "qcow2", "-u", "-F", "qcow2", "-b",
            "json:{'driver': 'qcow2', 'file': {'driver': 'file', 'filename': 'a.qcow2'}}", "o.qcow2", "4M").Ok();
        Same("compare", "o.qcow2", "a.qcow2");
        Same("map", "--output=json", "o.qcow2");
    }

    [Test]
    public void Resize_WithFileLockingOff_IgnoresTheLockOfAnotherProcess()
    {
        Prepare();
        string opts = "driver=raw,file.driver=file,file.filename=r.raw,file.locking=off";
        using (ImageTool.Tests.ImageLockTests.QemuIoHolding(Dir["r.raw"], readOnly: false))
        {
            var result = Img.Run(Dir.Path, "resize", "--shrink", "--image-opts", opts, "512k");
            Assert.That(result.Stdout + result.Stderr, Is.EqualTo("Image resized.\n"));
            Assert.That(Img.Run(Dir.Path, "resize", "-f", "raw", "r.raw", "256k").ExitCode, Is.EqualTo(1), "locked without locking=off");
        }
        Assert.That(new FileInfo(Dir["r.raw"]).Length, Is.EqualTo(512 << 10));
    }
}
