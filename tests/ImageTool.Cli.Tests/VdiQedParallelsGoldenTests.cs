using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>img and qemu-img on the same vdi, qed and parallels files (made by qemu-img): identical output and exit codes.</summary>
[Category("Qemu")]
public class VdiQedParallelsGoldenTests
{
    private TempDir _dir = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        Tools.Require("qemu-img");
        SeededData.WriteRaw(_dir["data.raw"], 8 << 20, 9, (0, 4096), (1 << 20, 65536), (5 << 20, 12345));
        void Q(params string[] args) => Tools.RunIn(_dir.Path, "qemu-img", args).Ok();
        Q("convert", "-O", "vdi", "data.raw", "d.vdi");
        Q("convert", "-O", "vdi", "-o", "static=on", "data.raw", "s.vdi");
        Q("convert", "-O", "qed", "data.raw", "base.qed");
        Q("create", "-q", "-f", "qed", "-b", "base.qed", "-F", "qed", "child.qed");
        Q("create", "-q", "-f", "qed", "-b", "data.raw", "-F", "raw", "-o", "cluster_size=4k", "rawchild.qed");
        Q("convert", "-O", "parallels", "data.raw", "p.hdd");
        Tools.RunIn(_dir.Path, "qemu-io", "-f", "qed", "-c", "write -P 7 64k 8k", "child.qed").Ok();
    }

    [OneTimeTearDown]
    public void TearDown() => _dir.Dispose();

    [TestCase("info d.vdi")]
    [TestCase("info --output=json s.vdi")]
    [TestCase("info child.qed")]
    [TestCase("info --backing-chain --output=json child.qed")]
    [TestCase("info rawchild.qed")]
    [TestCase("info p.hdd")]
    [TestCase("info --output=json p.hdd")]
    [TestCase("check d.vdi")]
    [TestCase("check -r all d.vdi")]
    [TestCase("check --output=json base.qed")]
    [TestCase("check child.qed")]
    [TestCase("check p.hdd")]
    [TestCase("map --output=json d.vdi")]
    [TestCase("map --output=json s.vdi")]
    [TestCase("map child.qed")]
    [TestCase("map --output=json p.hdd")]
    [TestCase("compare d.vdi p.hdd")]
    [TestCase("compare child.qed base.qed")]
    [TestCase("resize p.hdd +1M")]
    [TestCase("amend -o cluster_size=4k base.qed")]
    [TestCase("measure -O qed data.raw")]
    [TestCase("create -f qed -o help")]
    [TestCase("create -f vdi -o help")]
    [TestCase("create -f parallels -o help")]
    [TestCase("create -f qed -o cluster_size=1000 new.img 1M")]
    [TestCase("create -f qed -o table_size=32 new.img 1M")]
    [TestCase("create -f vdi -o preallocation=metadata new.img 1M")]
    [TestCase("create -f parallels -o cluster_size=1T new.img 1M")]
    [TestCase("create -f vdi -b base.qed -F qed new.img")]
    [TestCase("create -f qed -b base.qed -F qed new.img")]
    [TestCase("create -f parallels -o cluster_size=3k new.img 100001")]
    public void Command_MatchesQemuImg(string commandLine)
    {
        var args = commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Img.AssertSameAsQemu(_dir.Path, args, () => File.Delete(_dir["new.img"]));
    }
}
