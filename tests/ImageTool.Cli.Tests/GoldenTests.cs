using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>img and qemu-img on the same inputs: stdout, stderr and exit codes must match.</summary>
[Category("Qemu")]
public class GoldenTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        Tools.Require("qemu-img");
        // Inputs every case may use: a sparse raw with some data, an odd-sized raw, an empty file, garbage.
        SeededData.WriteRaw(_dir["data.raw"], 16 << 20, 7, (0, 4096), (1 << 20, 65536), (10 << 20, 12345));
        File.WriteAllBytes(_dir["odd.raw"], SeededData.Bytes(30000001 % 100000, 3));
        File.WriteAllBytes(_dir["empty.raw"], []);
        Directory.CreateDirectory(_dir["sub"]);
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [TestCase("info data.raw")]
    [TestCase("info --output=json data.raw")]
    [TestCase("info --output json odd.raw")]
    [TestCase("info --out=json empty.raw")]
    [TestCase("info -f raw --backing-chain data.raw")]
    [TestCase("info --backing-chain --output=json data.raw")]
    [TestCase("info -U data.raw")]
    [TestCase("info sub")]
    [TestCase("info nonexist.img")]
    [TestCase("info -f bogus data.raw")]
    [TestCase("info")]
    [TestCase("info a b")]
    [TestCase("info -Z data.raw")]
    [TestCase("info -f")]
    [TestCase("info --output=xml data.raw")]
    [TestCase("check data.raw")]
    [TestCase("check --output=json data.raw")]
    [TestCase("check -q data.raw")]
    [TestCase("check -r bogus data.raw")]
    [TestCase("check nonexist.img")]
    [TestCase("create -f raw new.raw 1M")]
    [TestCase("create -q new.raw 1M")]
    [TestCase("create -f raw new.raw 1000")]
    [TestCase("create new.raw 1.5G")]
    [TestCase("create new.raw 0x10k")]
    [TestCase("create new.raw 1x")]
    [TestCase("create new.raw 1.5")]
    [TestCase("create new.raw 99999999999999999999")]
    [TestCase("create new.raw 9223372036854775808")]
    [TestCase("create new.raw")]
    [TestCase("create")]
    [TestCase("create new.raw 1M 2")]
    [TestCase("create -f bogus new.raw 1M")]
    [TestCase("create -f raw -o preallocation=falloc new.raw 1M")]
    [TestCase("create -f raw -o preallocation=full new.raw 64k")]
    [TestCase("create -f raw -o preallocation=metadata new.raw 1M")]
    [TestCase("create -f raw -o preallocation=bogus new.raw 1M")]
    [TestCase("create -f raw -o bogus=1 new.raw 1M")]
    [TestCase("create -f raw -o ,size=1M new.raw")]
    [TestCase("create -f raw -o size=1M new.raw")]
    [TestCase("create -f raw -o size=1M new.raw 2M")]
    [TestCase("create -f raw -o help")]
    [TestCase("create -f raw -o help new.raw")]
    [TestCase("create -f raw -b data.raw new.raw")]
    [TestCase("create -F raw new.raw 1M")]
    [TestCase("create nosuchdir/new.raw 1M")]
    [TestCase("convert data.raw out.raw")]
    [TestCase("convert -p data.raw out.raw")]
    [TestCase("convert -q -p data.raw out.raw")]
    [TestCase("convert -O raw data.raw odd.raw out.raw")]
    [TestCase("convert -O bogus data.raw out.raw")]
    [TestCase("convert -S 100 data.raw out.raw")]
    [TestCase("convert -m 17 data.raw out.raw")]
    [TestCase("convert -c data.raw out.raw")]
    [TestCase("convert -t bogus data.raw out.raw")]
    [TestCase("convert data.raw")]
    [TestCase("convert nonexist.img out.raw")]
    [TestCase("convert -n data.raw nonexist.img")]
    [TestCase("convert -n -o size=1M data.raw out.raw")]
    [TestCase("convert -B data.raw data.raw odd.raw out.raw")]
    [TestCase("convert -O raw -o help")]
    [TestCase("bogus")]
    [TestCase("")]
    public void Command_MatchesQemuImg(string commandLine)
    {
        var args = commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Img.AssertSameAsQemu(_dir.Path, args, () =>
        {
            foreach (var f in new[] { "new.raw", "out.raw" }) File.Delete(_dir[f]);
        });
    }

    [TestCase("data.raw")]
    [TestCase("odd.raw")]
    public void Convert_RawToRaw_SameBytesAndAllocationAsQemu(string source)
    {
        Img.Run(_dir.Path, "convert", source, "img.raw").Ok();
        Tools.RunIn(_dir.Path, "qemu-img", "convert", source, "qemu.raw").Ok();
        Assert.That(File.ReadAllBytes(_dir["img.raw"]), Is.EqualTo(File.ReadAllBytes(_dir["qemu.raw"])));
        Tools.QemuImg("compare", _dir["img.raw"], _dir[source]).Ok();
        using var img = IO.HostFile.Open(_dir["img.raw"], true);
        using var qemu = IO.HostFile.Open(_dir["qemu.raw"], true);
        Assert.That(img.AllocatedBytes, Is.EqualTo(qemu.AllocatedBytes));
    }

    [TestCase("-S", "0")]
    [TestCase("-S", "1M")]
    [TestCase("-S", "8k")]
    public void Convert_SparseSize_AllocatesAsQemu(string option, string value)
    {
        // Zero runs of various lengths and alignments inside data.
        var bytes = SeededData.Bytes(4 << 20, 11);
        Array.Clear(bytes, 6 << 10, 8 << 10);
        Array.Clear(bytes, 1 << 20, 1 << 20);
        Array.Clear(bytes, 3 << 20, 4096);
        File.WriteAllBytes(_dir["z.raw"], bytes);
        Img.Run(_dir.Path, "convert", option, value, "z.raw", "img.raw").Ok();
        Tools.RunIn(_dir.Path, "qemu-img", "convert", option, value, "z.raw", "qemu.raw").Ok();
        Assert.That(File.ReadAllBytes(_dir["img.raw"]), Is.EqualTo(bytes));
        using var img = IO.HostFile.Open(_dir["img.raw"], true);
        using var qemu = IO.HostFile.Open(_dir["qemu.raw"], true);
        Assert.That(img.AllocatedBytes, Is.EqualTo(qemu.AllocatedBytes));
    }

    [Test]
    public void Version_PrintsVersionAndExitsZero()
    {
        var r = Img.Run(_dir.Path, "--version").Ok();
        Assert.That(r.Stdout, Does.StartWith("img version "));
    }

    [TestCase("create")]
    [TestCase("info")]
    [TestCase("convert")]
    [TestCase("check")]
    public void Help_ForEveryCommand_PrintsSynopsis(string command)
    {
        var r = Img.Run(_dir.Path, command, "--help").Ok();
        Assert.That(r.Stdout, Does.StartWith($"usage: img {command} "));
    }

    [Test]
    public void Help_Global_ListsCommandsAndFormats()
    {
        var r = Img.Run(_dir.Path, "--help").Ok();
        Assert.That(r.Stdout, Does.Contain("  convert ").And.Contain("Supported formats: ").And.Contain("raw"));
    }
}
