using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>compare, map, dd, measure, resize, rebase, amend: img and qemu-img on the same inputs print the same and exit the same.</summary>
[Category("Qemu")]
public class ToolboxGoldenTests
{
    private TempDir _dir = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        Tools.Require("qemu-img");
        Tools.Require("qemu-io");
        _dir = new TempDir();
        // a.raw: data at odd places in holes; b.raw: one byte differs; t.raw: a.raw grown with a zero or data tail.
        SeededData.WriteRaw(_dir["a.raw"], 4 << 20, 5, (65536, 70000), (3 << 20, 1000));
        var b = File.ReadAllBytes(_dir["a.raw"]);
        b[70001] ^= 0x5a;
        File.WriteAllBytes(_dir["b.raw"], b);
        SeededData.WriteRaw(_dir["c.raw"], 4 << 20, 5, (65536, 70000), (3 << 20, 1000), (2000001, 1));
        File.Copy(_dir["a.raw"], _dir["t.raw"]);
        using (var t = new FileStream(_dir["t.raw"], FileMode.Open)) t.SetLength(6 << 20);
        File.Copy(_dir["t.raw"], _dir["tail.raw"]);
        using (var t = new FileStream(_dir["tail.raw"], FileMode.Open)) { t.Position = 5000000; t.WriteByte(1); }
        File.WriteAllBytes(_dir["e.raw"], []);
        Qemu("convert", "-O", "qcow2", "a.raw", "a.qcow2");
        Qemu("convert", "-c", "-O", "qcow2", "a.raw", "c.qcow2");
        Qemu("create", "-q", "-f", "qcow2", "big.qcow2", "5M");
        Qemu("create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", "ov.qcow2", "8M");
        Tools.RunIn(_dir.Path, "qemu-io", "-c", "write -P 1 1M 64k", "-c", "write -z 3M 64k", "ov.qcow2").Ok();
        Qemu("create", "-q", "-f", "qcow2", "-b", "a.raw", "-F", "raw", "ovr.qcow2", "2M");
        Qemu("create", "-q", "-f", "qcow2", "sn0.qcow2", "4M");
        Tools.RunIn(_dir.Path, "qemu-io", "-c", "write -P 6 0 256k", "sn0.qcow2").Ok();
        Qemu("snapshot", "-c", "s1", "sn0.qcow2");
        Qemu("create", "-q", "-f", "qcow2", "snm.qcow2", "4M");
        Tools.RunIn(_dir.Path, "qemu-io", "-c", "write -P 6 0 256k", "snm.qcow2").Ok();
        Qemu("snapshot", "-c", "s1", "snm.qcow2");
        Tools.RunIn(_dir.Path, "qemu-io", "-c", "write -P 7 1M 2M", "snm.qcow2").Ok();
    }

    [OneTimeTearDown]
    public void TearDown() => _dir.Dispose();

    private void Qemu(params string[] args) => Tools.RunIn(_dir.Path, "qemu-img", args).Ok();

    [TestCase("compare a.raw b.raw")]
    [TestCase("compare a.raw a.qcow2")]
    [TestCase("compare a.raw c.raw")]
    [TestCase("compare c.raw a.raw")]
    [TestCase("compare a.raw c.qcow2")]
    [TestCase("compare -s a.raw a.qcow2")]
    [TestCase("compare -s a.qcow2 a.qcow2")]
    [TestCase("compare -s ov.qcow2 ov.qcow2")]
    [TestCase("compare a.raw big.qcow2")]
    [TestCase("compare -s a.raw big.qcow2")]
    [TestCase("compare -p a.raw a.qcow2")]
    [TestCase("compare -p a.raw b.raw")]
    [TestCase("compare -q a.raw b.raw")]
    [TestCase("compare a.raw t.raw")]
    [TestCase("compare -p t.raw a.raw")]
    [TestCase("compare a.raw tail.raw")]
    [TestCase("compare -f raw -F qcow2 tail.raw a.qcow2")]
    [TestCase("compare -F raw a.qcow2 a.raw")]
    [TestCase("compare -f qcow2 a.raw a.raw")]
    [TestCase("compare ov.qcow2 a.qcow2")]
    [TestCase("compare ovr.qcow2 a.raw")]
    [TestCase("compare -s ovr.qcow2 a.raw")]
    [TestCase("compare big.qcow2 ov.qcow2")]
    [TestCase("compare -U a.raw a.raw")]
    [TestCase("compare a.raw nonexist")]
    [TestCase("compare -T bogus a.raw a.raw")]
    [TestCase("compare a.raw")]
    [TestCase("compare a.raw a.raw a.raw")]
    [TestCase("map a.raw")]
    [TestCase("map --output=json a.raw")]
    [TestCase("map a.qcow2")]
    [TestCase("map --output=json a.qcow2")]
    [TestCase("map ov.qcow2")]
    [TestCase("map --output=json ov.qcow2")]
    [TestCase("map ovr.qcow2")]
    [TestCase("map --output=json ovr.qcow2")]
    [TestCase("map c.qcow2")]
    [TestCase("map --output=json c.qcow2")]
    [TestCase("map e.raw")]
    [TestCase("map --output=json e.raw")]
    [TestCase("map --output=json --start-offset=1000 --max-length 70000 a.raw")]
    [TestCase("map --start-offset 1M --max-length=2M --output=json ov.qcow2")]
    [TestCase("map --start-offset=-1 a.raw")]
    [TestCase("map --max-length=1x a.raw")]
    [TestCase("map --max-length=0 a.raw")]
    [TestCase("map --start-offset=1G a.raw")]
    [TestCase("map -U -f raw a.qcow2")]
    [TestCase("map --output=xml a.raw")]
    [TestCase("map nonexist")]
    [TestCase("map")]
    [TestCase("measure -O qcow2 a.raw")]
    [TestCase("measure -O qcow2 a.qcow2")]
    [TestCase("measure --output=json -O qcow2 a.qcow2")]
    [TestCase("measure -O qcow2 -o compat=0.10 a.qcow2")]
    [TestCase("measure -O qcow2 ov.qcow2")]
    [TestCase("measure -O qcow2 -o backing_file=x ov.qcow2")]
    [TestCase("measure -O qcow2 -o preallocation=full a.raw")]
    [TestCase("measure -O qcow2 -o preallocation=bogus a.raw")]
    [TestCase("measure -O qcow2 c.qcow2")]
    [TestCase("measure a.raw")]
    [TestCase("measure --output=json a.qcow2")]
    [TestCase("measure --size 1G -O qcow2")]
    [TestCase("measure -O qcow2 --size 12345678")]
    [TestCase("measure -O qcow2 --size 100T")]
    [TestCase("measure -O qcow2 -o cluster_size=512 --size 100T")]
    [TestCase("measure -O qcow2 -o refcount_bits=64,cluster_size=2M --size 3T")]
    [TestCase("measure --size 1G -O qcow2 -o cluster_size=4k,refcount_bits=1 --output=json")]
    [TestCase("measure --size 1000")]
    [TestCase("measure")]
    [TestCase("measure --size 1G a.raw")]
    [TestCase("measure -f raw --size 1G")]
    [TestCase("measure --size -1")]
    [TestCase("measure -O bogus --size 1G")]
    [TestCase("measure -O qcow2 -o cluster_size=3k --size 1G")]
    [TestCase("measure -O qcow2 -o bogus=1 --size 1G")]
    [TestCase("measure a.raw b.raw")]
    [TestCase("measure -o ,")]
    [TestCase("measure -l snapshot.foo=bar")]
    [TestCase("measure -l snapshot.id=1,foo=2 a.qcow2")]
    [TestCase("measure -l snapshot.name=x,, a.qcow2")]
    [TestCase("measure -O qcow2 -l s1 snm.qcow2")]
    [TestCase("measure -O qcow2 -l snapshot.name=s1 snm.qcow2")]
    [TestCase("measure -O qcow2 -l nope snm.qcow2")]
    [TestCase("convert -l snapshot.foo=bar a.qcow2 o.raw")]
    public void ReadOnlyCommand_MatchesQemuImg(string commandLine) =>
        Img.AssertSameAsQemu(_dir.Path, commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries));

    [TestCase("dd if=a.raw of=o.raw")]
    [TestCase("dd bs=512k count=3 skip=1 if=a.raw of=o.raw")]
    [TestCase("dd -O qcow2 bs=1M count=2 if=a.raw of=o.qcow2")]
    [TestCase("dd bs=4k skip=3 if=a.qcow2 of=o.raw")]
    [TestCase("dd -f qcow2 bs=64k count=20 if=ov.qcow2 of=o.raw")]
    [TestCase("dd skip=9999 if=a.raw of=o.raw")]
    [TestCase("dd conv=notrunc if=a.raw of=o.raw")]
    [TestCase("dd foo if=a.raw of=o.raw")]
    [TestCase("dd if=a.raw")]
    [TestCase("dd bs=0 if=a.raw of=o.raw")]
    [TestCase("dd bs=1x if=a.raw of=o.raw")]
    [TestCase("dd count=-1 if=a.raw of=o.raw")]
    [TestCase("dd -O bogus if=a.raw of=o.raw")]
    [TestCase("dd if=nonexist of=o.raw")]
    [TestCase("dd if=a.raw of=nodir/o.raw")]
    [TestCase("dd if=a.raw of=o.raw extra")]
    public void Dd_MatchesQemuImg_SameContentAndAllocation(string commandLine)
    {
        var args = commandLine.Split(' ');
        string? output = args.FirstOrDefault(a => a.StartsWith("of=", StringComparison.Ordinal))?[3..];
        void Clean()
        {
            foreach (var f in Directory.GetFiles(_dir.Path, "o.*")) File.Delete(f);
        }
        Img.AssertSameAsQemu(_dir.Path, args, Clean);
        if (output == null || !File.Exists(_dir[output])) return;
        File.Move(_dir[output], _dir["img-" + output], overwrite: true);
        Clean();
        Tools.RunIn(_dir.Path, "qemu-img", args);
        Tools.QemuImg("compare", _dir[output], _dir["img-" + output]).Ok();
        Assert.That(new FileInfo(_dir["img-" + output]).Length, Is.EqualTo(new FileInfo(_dir[output]).Length));
        Clean();
    }

    [TestCase("resize r.raw 8M")]
    [TestCase("resize -f raw r.raw 5001")]
    [TestCase("resize --preallocation=falloc r.raw 8M")]
    [TestCase("resize --preallocation=full r.raw +1M")]
    [TestCase("resize --preallocation=metadata r.raw 8M")]
    [TestCase("resize --preallocation=bogus r.raw 8M")]
    [TestCase("resize --preallocation=falloc r.raw 4M")]
    [TestCase("resize r.raw -1M")]
    [TestCase("resize -q r.raw 5000")]
    [TestCase("resize --shrink r.raw -1M")]
    [TestCase("resize r.raw +0")]
    [TestCase("resize r.raw 0")]
    [TestCase("resize r.raw -5M")]
    [TestCase("resize r.raw 1x")]
    [TestCase("resize r.raw")]
    [TestCase("resize -f raw r.raw")]
    [TestCase("resize -f qcow2 r.raw 8M")]
    [TestCase("resize nonexist 1M")]
    [TestCase("resize r.qcow2 8G")]
    [TestCase("resize r.qcow2 +100M")]
    [TestCase("resize r.qcow2 1000")]
    [TestCase("resize r.qcow2 3M")]
    [TestCase("resize --shrink r.qcow2 1M")]
    [TestCase("resize --shrink r.qcow2 2500k")]
    [TestCase("resize --shrink r.qcow2 -- -1M")]
    [TestCase("resize r.qcow2 -- 5M")]
    [TestCase("resize --preallocation=metadata r.qcow2 8M")]
    [TestCase("resize --preallocation=metadata r.qcow2 1G")]
    [TestCase("resize --preallocation=falloc r.qcow2 8M")]
    [TestCase("resize --preallocation=falloc r.qcow2 1G")]
    [TestCase("resize --preallocation=full r.qcow2 +1M")]
    [TestCase("resize --preallocation=full r.qcow2 +512")]
    [TestCase("resize --preallocation=falloc r.qcow2 3M")]
    [TestCase("resize --preallocation=full --shrink r.qcow2 1M")]
    [TestCase("resize --preallocation=metadata r.qcow2 +1000")]
    [TestCase("resize r.qcow2 1G")]
    public void Resize_MatchesQemuImg_SameContentAndCleanCheck(string commandLine)
    {
        var args = commandLine.Split(' ');
        void Prepare()
        {
            Qemu("create", "-q", "-f", "raw", "r.raw", "4M");
            Qemu("create", "-q", "-f", "qcow2", "r.qcow2", "4M");
            Tools.RunIn(_dir.Path, "qemu-io", "-c", "write -P 7 0 3M", "r.qcow2").Ok();
        }
        Img.AssertSameAsQemu(_dir.Path, args, Prepare);
        File.Move(_dir["r.qcow2"], _dir["img.qcow2"], overwrite: true);
        File.Move(_dir["r.raw"], _dir["img.raw"], overwrite: true);
        Prepare();
        Tools.RunIn(_dir.Path, "qemu-img", args);
        // "disk size" is left out: the host file system's block counts after qemu-io's writes vary between runs.
        string Info(string f) => string.Join('\n', Tools.RunIn(_dir.Path, "qemu-img", "info", f).Stdout.Replace(f, "x")
            .Split('\n').Where(l => !l.StartsWith("disk size", StringComparison.Ordinal)));
        Assert.That(Info("img.qcow2"), Is.EqualTo(Info("r.qcow2")));
        Qemu("check", "img.qcow2");
        Qemu("compare", "r.qcow2", "img.qcow2");
        Qemu("compare", "-s", "r.raw", "img.raw");
        Assert.That(new FileInfo(_dir["img.raw"]).Length, Is.EqualTo(new FileInfo(_dir["r.raw"]).Length));
    }

    [TestCase("info l.qcow2")]
    [TestCase("info -U l.qcow2")]
    [TestCase("map l.qcow2")]
    [TestCase("compare l.qcow2 a.qcow2")]
    [TestCase("compare -U l.qcow2 a.qcow2")]
    [TestCase("check l.qcow2")]
    [TestCase("resize l.qcow2 8M")]
    [TestCase("check -r all -U l.qcow2")]
    [TestCase("info l.raw")]
    [TestCase("create -f qcow2 l.qcow2 1M")]
    [TestCase("create -f raw l.qcow2 1M")]
    [TestCase("convert -O qcow2 a.raw l.qcow2")]
    [TestCase("dd if=a.raw of=l.qcow2")]
    public void LockedByQemuIo_MatchesQemuImg(string commandLine)
    {
        File.Copy(_dir["a.qcow2"], _dir["l.qcow2"], overwrite: true);
        File.Copy(_dir["a.raw"], _dir["l.raw"], overwrite: true);
        using (ImageTool.Tests.ImageLockTests.QemuIoHolding(_dir["l.qcow2"], readOnly: false))
        using (ImageTool.Tests.ImageLockTests.QemuIoHolding(_dir["l.raw"], readOnly: false))
            Img.AssertSameAsQemu(_dir.Path, commandLine.Split(' '));
        Qemu("compare", "l.qcow2", "a.qcow2");
    }

    [TestCase("resize l.qcow2 8M")]
    [TestCase("info l.qcow2")]
    public void LockedByQemuIoReader_MatchesQemuImg(string commandLine)
    {
        File.Copy(_dir["a.qcow2"], _dir["l.qcow2"], overwrite: true);
        using (ImageTool.Tests.ImageLockTests.QemuIoHolding(_dir["l.qcow2"], readOnly: true))
            Img.AssertSameAsQemu(_dir.Path, commandLine.Split(' '));
        Qemu("compare", "-s", "l.qcow2", "a.qcow2");
    }

    [TestCase("rebase -b rbase2.raw -F raw rov.qcow2")]
    [TestCase("rebase -b rbase2.raw rov.qcow2")]
    [TestCase("rebase -u -b rbase2.raw -F raw rov.qcow2")]
    [TestCase("rebase -u -b nonexist.raw -F raw rov.qcow2")]
    [TestCase("rebase -b nonexist.raw -F raw rov.qcow2")]
    [TestCase("rebase -b  rov.qcow2")]
    [TestCase("rebase rov.qcow2")]
    [TestCase("rebase -u rov.qcow2")]
    [TestCase("rebase -b rbase2.raw -F bogus rov.qcow2")]
    [TestCase("rebase -f raw -b rbase2.raw -F raw rbase1.raw")]
    [TestCase("rebase -p -b rbase2.raw -F raw rov.qcow2")]
    [TestCase("rebase -p -b  rov.qcow2")]
    [TestCase("rebase -b rbase2.raw -F qcow2 rov.qcow2")]
    [TestCase("rebase -b rbase2.raw -F raw rov.qcow2 x")]
    public void Rebase_MatchesQemuImg_SameContentAndCleanCheck(string commandLine)
    {
        // "-b  x" (two spaces) stands for -b "" (detach).
        var args = commandLine.Split(' ');
        void Prepare()
        {
            Qemu("create", "-q", "-f", "raw", "rbase1.raw", "4M");
            Tools.RunIn(_dir.Path, "qemu-io", "-f", "raw", "-c", "write -P 1 0 1M", "-c", "write -P 2 2M 512k", "rbase1.raw").Ok();
            Qemu("create", "-q", "-f", "raw", "rbase2.raw", "3M");
            Tools.RunIn(_dir.Path, "qemu-io", "-f", "raw", "-c", "write -P 1 0 512k", "-c", "write -P 3 1M 1M", "rbase2.raw").Ok();
            Qemu("create", "-q", "-f", "qcow2", "-b", "rbase1.raw", "-F", "raw", "rov.qcow2", "4M");
            Tools.RunIn(_dir.Path, "qemu-io", "-c", "write -P 9 1536k 64k", "rov.qcow2").Ok();
        }
        Img.AssertSameAsQemu(_dir.Path, args, Prepare);
        string ImageInfo() => Tools.RunIn(_dir.Path, "qemu-img", "info", "-U", "rov.qcow2").Stdout.Replace("img.qcow2", "rov.qcow2");
        if (args.Contains("nonexist.raw")) return; // nothing to read through a missing backing file
        Qemu("check", "rov.qcow2");
        Qemu("convert", "-O", "raw", "rov.qcow2", "img-content.raw");
        string imgInfo = ImageInfo();
        Prepare();
        Tools.RunIn(_dir.Path, "qemu-img", args);
        Qemu("convert", "-O", "raw", "rov.qcow2", "qemu-content.raw");
        Assert.That(File.ReadAllBytes(_dir["img-content.raw"]), Is.EqualTo(File.ReadAllBytes(_dir["qemu-content.raw"])));
        Assert.That(imgInfo.Split('\n').Where(l => l.StartsWith("backing", StringComparison.Ordinal)),
            Is.EqualTo(ImageInfo().Split('\n').Where(l => l.StartsWith("backing", StringComparison.Ordinal))));
    }

    [TestCase("amend -o compat=0.10 am.qcow2")]
    [TestCase("amend -o compat=0.10 amb.qcow2")]
    [TestCase("amend -o compat=1.1,lazy_refcounts=on v2.qcow2")]
    [TestCase("amend -o compat=v2 am.qcow2")]
    [TestCase("amend -o compat=0.9 am.qcow2")]
    [TestCase("amend -o lazy_refcounts=on am.qcow2")]
    [TestCase("amend -o lazy_refcounts=off am.qcow2")]
    [TestCase("amend -o compat=0.10,lazy_refcounts=on am.qcow2")]
    [TestCase("amend -o refcount_bits=16 am.qcow2")]
    [TestCase("amend -o refcount_bits=3 am.qcow2")]
    [TestCase("amend -o compat=0.10 -o refcount_bits=8 am.qcow2")]
    [TestCase("amend -o refcount_bits=1 am.qcow2")]
    [TestCase("amend -o refcount_bits=64 am.qcow2")]
    [TestCase("amend -o refcount_bits=0 am.qcow2")]
    [TestCase("amend -o refcount_bits=128 am.qcow2")]
    [TestCase("amend -o refcount_bits=-1 am.qcow2")]
    [TestCase("amend -o refcount_bits=0x8 am.qcow2")]
    [TestCase("amend -o refcount_bits=x am.qcow2")]
    [TestCase("amend -o refcount_bits=2 v2.qcow2")]
    [TestCase("amend -o compat=1.1,refcount_bits=2 v2.qcow2")]
    [TestCase("amend -p -o compat=1.1,refcount_bits=4 v2.qcow2")]
    [TestCase("amend -p -o compat=1.1 v2.qcow2")]
    [TestCase("amend -o compat=0.10,refcount_bits=16 rc8.qcow2")]
    [TestCase("amend -o compat=0.10 rc8.qcow2")]
    [TestCase("amend -p -o refcount_bits=64,lazy_refcounts=on rc8.qcow2")]
    [TestCase("amend -o refcount_bits=8,backing_file=x am.qcow2")]
    [TestCase("amend -o refcount_bits=1 sn.qcow2")]
    [TestCase("amend -p -o refcount_bits=1 sn.qcow2")]
    [TestCase("amend -o refcount_bits=2 sn.qcow2")]
    [TestCase("amend -o refcount_bits=1 small.qcow2")]
    [TestCase("amend -o refcount_bits=64 small.qcow2")]
    [TestCase("amend -p -o refcount_bits=32 small.qcow2")]
    [TestCase("amend -p -o compat=0.10 small.qcow2")]
    [TestCase("amend -p -o refcount_bits=2,compat=0.10 small.qcow2")]
    [TestCase("amend -p -o bogus=1 am.qcow2")]
    [TestCase("amend -p -o compat=0.10 nonexist.qcow2")]
    [TestCase("amend -o backing_file=a.raw,backing_fmt=raw amb.qcow2")]
    [TestCase("amend -o backing_file=a.raw amb.qcow2")]
    [TestCase("amend -o backing_fmt=raw amb.qcow2")]
    [TestCase("amend -o data_file=x am.qcow2")]
    [TestCase("amend -o data_file_raw=on am.qcow2")]
    [TestCase("amend -o data_file_raw=off am.qcow2")]
    [TestCase("amend -o cluster_size=4k am.qcow2")]
    [TestCase("amend -o bogus=1 am.qcow2")]
    [TestCase("amend -o backing_file=a.raw,backing_fmt=raw am.qcow2")]
    [TestCase("amend -o backing_fmt=raw am.qcow2")]
    [TestCase("amend -o size=8M am.qcow2")]
    [TestCase("amend -o size=1M am.qcow2")]
    [TestCase("amend -p -o compat=0.10 am.qcow2")]
    [TestCase("amend -o help am.qcow2")]
    [TestCase("amend -f qcow2 -o help")]
    [TestCase("amend -f raw -o help")]
    [TestCase("amend -f raw -o compat=0.10 a.raw")]
    [TestCase("amend am.qcow2")]
    [TestCase("amend -o compat=0.10")]
    public void Amend_MatchesQemuImg_SameHeaderContentAndCleanCheck(string commandLine)
    {
        var args = commandLine.Split(' ');
        void Prepare()
        {
            Qemu("create", "-q", "-f", "qcow2", "am.qcow2", "4M");
            Tools.RunIn(_dir.Path, "qemu-io", "-c", "write -P 3 0 128k", "-c", "write -z 1M 128k", "-c", "write -P 5 2M 64k", "-c", "write -z -u 2M 64k", "am.qcow2").Ok();
            Qemu("create", "-q", "-f", "qcow2", "-b", "a.raw", "-F", "raw", "amb.qcow2", "4M");
            Tools.RunIn(_dir.Path, "qemu-io", "-c", "write -z 64k 64k", "amb.qcow2").Ok();
            Qemu("create", "-q", "-f", "qcow2", "-o", "compat=0.10", "v2.qcow2", "4M");
            Tools.RunIn(_dir.Path, "qemu-io", "-c", "write -P 3 0 128k", "v2.qcow2").Ok();
            Qemu("create", "-q", "-f", "qcow2", "-o", "refcount_bits=8", "rc8.qcow2", "4M");
            Tools.RunIn(_dir.Path, "qemu-io", "-c", "write -P 4 64k 192k", "-c", "write -z 1M 64k", "rc8.qcow2").Ok();
            File.Copy(_dir["sn0.qcow2"], _dir["sn.qcow2"], overwrite: true); // one snapshot date for both runs
            // 512-byte clusters: many refcount blocks, a refcount table of several clusters and 2048 L1 entries.
            Qemu("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", "small.qcow2", "64M");
            Tools.RunIn(_dir.Path, "qemu-io", "-c", "write -P 7 0 3M", "-c", "write -z 5M 64k", "-c", "write -P 8 40M 1M", "small.qcow2").Ok();
        }
        string State()
        {
            var sb = new System.Text.StringBuilder();
            foreach (var f in new[] { "am.qcow2", "amb.qcow2", "v2.qcow2", "rc8.qcow2", "sn.qcow2", "small.qcow2" })
            {
                // without "disk size": host block counts after qemu-io's writes vary between runs
                sb.Append(string.Join('\n', Tools.RunIn(_dir.Path, "qemu-img", "info", f).Stdout.Split('\n').Where(l => !l.StartsWith("disk size", StringComparison.Ordinal))));
                sb.Append(Tools.RunIn(_dir.Path, "qemu-img", "check", f).Stdout);
                Qemu("convert", "-O", "raw", f, "content.raw");
                sb.Append(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(_dir["content.raw"]))));
            }
            return sb.ToString();
        }
        Img.AssertSameAsQemu(_dir.Path, args, Prepare);
        string afterImg = State();
        Prepare();
        Tools.RunIn(_dir.Path, "qemu-img", args);
        Assert.That(afterImg, Is.EqualTo(State()));
    }
}
