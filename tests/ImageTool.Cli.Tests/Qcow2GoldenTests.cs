using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>qcow2, commit and bench through the CLI: same stdout, stderr and exit code as qemu-img.</summary>
[Category("Qemu")]
public class Qcow2GoldenTests : QemuGoldenTestBase
{
    // Rebuilt before each of the two runs: base.qcow2 <- mid.qcow2 <- top.qcow2, plus a leaky image.
    private void Prepare()
    {
        foreach (var f in Directory.GetFiles(Dir.Path)) File.Delete(f);
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "qcow2", "base.qcow2", "4M").Ok();
        Tools.RunIn(Dir.Path, "qemu-io", "-c", "write -P 1 0 4M", "base.qcow2").Ok();
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "mid.qcow2").Ok();
        Tools.RunIn(Dir.Path, "qemu-io", "-c", "write -P 2 64k 64k", "mid.qcow2").Ok();
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2").Ok();
        Tools.RunIn(Dir.Path, "qemu-io", "-c", "write -P 3 1M 100k", "-c", "write -z 2M 64k", "top.qcow2").Ok();
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "qcow2", "leak.qcow2", "4M").Ok();
        Tools.RunIn(Dir.Path, "qemu-io", "-c", "write -P 4 0 128k", "leak.qcow2").Ok();
        using (var fs = new FileStream(Dir["leak.qcow2"], FileMode.Open))
        {
            fs.Position = 0x20000 + 2 * 5;
            fs.Write([0, 2]);
        }
        File.Copy(Dir["leak.qcow2"], Dir["corrupt.qcow2"]);
        using (var fs = new FileStream(Dir["corrupt.qcow2"], FileMode.Open))
        {
            fs.Position = 79;
            fs.WriteByte(2); // incompatible feature "corrupt bit"
        }
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", "dirty.qcow2", "4M").Ok();
        Tools.RunIn(Dir.Path, "qemu-io", "-c", "write -P 5 0 192k", "-c", "abort", "dirty.qcow2");
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on", "-b", "base.qcow2", "-F", "qcow2", "ext.qcow2").Ok();
        Tools.RunIn(Dir.Path, "qemu-io", "-c", "write -P 6 0 4k", "-c", "write -z 8k 4k", "-c", "write -z 64k 64k", "ext.qcow2").Ok();
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "data_file=df.raw,data_file_raw=on", "df.qcow2", "4M").Ok();
        Tools.RunIn(Dir.Path, "qemu-io", "-c", "write -P 7 0 100k", "df.qcow2").Ok();
        // iotest 271: zero clusters that keep their allocation, whose L2 entry then points at an unaligned offset.
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "qcow2", "unaligned.qcow2", "1M").Ok();
        Tools.RunIn(Dir.Path, "qemu-io", "-c", "write -P 1 0 64k", "-c", "write -z 0 64k", "unaligned.qcow2").Ok();
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "raw", "small.raw", "128k").Ok();
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on", "-b", "small.raw", "-F", "raw", "unaligned-ext.qcow2").Ok();
        Tools.RunIn(Dir.Path, "qemu-io", "-c", "write -P 1 4k 2k", "-c", "write -z 4k 2k", "unaligned-ext.qcow2").Ok();
        foreach (string name in new[] { "unaligned.qcow2", "unaligned-ext.qcow2" })
        {
            using var fs = new FileStream(Dir[name], FileMode.Open);
            fs.Position = 0x40000 + 6; // the first L2 entry's offset 0x50000 becomes 0x50200
            fs.WriteByte(2);
        }
    }

    [TestCase("create -f qcow2 new.qcow2 1G")]
    [TestCase("create -f qcow2 -o compat=0.10,cluster_size=4k new.qcow2 100M")]
    [TestCase("create -f qcow2 -o cluster_size=3k new.qcow2 1M")]
    [TestCase("create -f qcow2 -o help")]
    [TestCase("create -f qcow2 -o help new.qcow2")]
    // "create -b base.qcow2 new.qcow2" without -F differs on purpose (#21: img records the probed format); qemu's
    // refusal is compared byte for byte under the name qemu-img in TutorialCommandLineTests.
    [TestCase("create -f qcow2 -b base.qcow2 -F qcow2 new.qcow2")]
    [TestCase("create -f qcow2 -b base.qcow2 -F qcow2 -o preallocation=metadata new.qcow2")]
    // iotest 301: qemu opens the backing file even with a size given, and checks the driver name under -u.
    [TestCase("create -f qcow2 -b base.qcow2 -F garbage new.qcow2 32M")]
    [TestCase("create -f qcow2 -u -b base.qcow2 -F garbage new.qcow2 32M")]
    [TestCase("create -f qcow -u -b base.qcow2 -F garbage new.qcow 32M")]
    [TestCase("create -f qed -u -b base.qcow2 -F garbage new.qed 32M")]
    [TestCase("create -f qcow2 -u -b base.qcow2 -F io_uring new.qcow2 32M")]
    [TestCase("create -f qcow2 -u -b base.qcow2 -F host_device new.qcow2 32M")]
    [TestCase("create -f qcow2 -b base.qcow2 -F raw new.qcow2 32M")]
    [TestCase("create -f qcow2 -b nonexist.qcow2 -F qcow2 new.qcow2 32M")]
    // iotest 271: a preallocated zero cluster at an unaligned offset is repaired by zeroing the entry.
    [TestCase("check -r all unaligned.qcow2")]
    [TestCase("check -r all unaligned-ext.qcow2")]
    [TestCase("check unaligned.qcow2")]
    [TestCase("info top.qcow2")]
    [TestCase("info --backing-chain top.qcow2")]
    [TestCase("info --output=json --backing-chain top.qcow2")]
    [TestCase("check top.qcow2")]
    [TestCase("check --output=json base.qcow2")]
    [TestCase("check leak.qcow2")]
    [TestCase("check --output=json leak.qcow2")]
    [TestCase("check -r leaks leak.qcow2")]
    [TestCase("check -r all --output=json leak.qcow2")]
    [TestCase("check corrupt.qcow2")]
    [TestCase("check -r all corrupt.qcow2")]
    [TestCase("check dirty.qcow2")]
    [TestCase("check -r all dirty.qcow2")]
    [TestCase("info dirty.qcow2")]
    [TestCase("info --output=json corrupt.qcow2")]
    [TestCase("commit top.qcow2")]
    [TestCase("commit -q -d top.qcow2")]
    [TestCase("commit -b base.qcow2 top.qcow2")]
    [TestCase("commit -b nonexist top.qcow2")]
    [TestCase("commit base.qcow2")]
    [TestCase("commit")]
    [TestCase("create -f qcow2 -o extended_l2=on new.qcow2 1M")]
    [TestCase("create -f qcow2 -o extended_l2=on,cluster_size=8k new.qcow2 1M")]
    [TestCase("create -f qcow2 -o data_file=new.raw,data_file_raw=on new.qcow2 1M")]
    [TestCase("create -f qcow2 -o data_file_raw=on new.qcow2 1M")]
    [TestCase("info ext.qcow2")]
    [TestCase("info --output=json df.qcow2")]
    [TestCase("check ext.qcow2")]
    [TestCase("map --output=json ext.qcow2")]
    [TestCase("map --output=json df.qcow2")]
    [TestCase("compare ext.qcow2 base.qcow2")]
    [TestCase("amend -o compat=0.10 ext.qcow2")]
    [TestCase("check df.qcow2")]
    [TestCase("snapshot -c s1 df.qcow2")]
    [TestCase("bench -c x base.qcow2")]
    [TestCase("bench --flush-interval=4 base.qcow2")]
    [TestCase("bench -w --flush-interval=4 base.qcow2")]
    [TestCase("bench -s 3G base.qcow2")]
    public void Command_MatchesQemuImg(string commandLine)
    {
        string[] args = commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // Commands that only read see the same files: rebuilt images may take other disk space ("disk size").
        bool readOnly = args[0] is "info" or "map" or "compare" || (args[0] == "check" && !args.Contains("-r"));
        if (readOnly) Prepare();
        Img.AssertSameAsQemu(Dir.Path, args, readOnly ? null : Prepare);
    }

    /// <summary>After img check -r all on an unaligned zero-cluster entry, qemu-img finds the image clean and reading what qemu-img's repair leaves.</summary>
    [TestCase("unaligned.qcow2")]
    [TestCase("unaligned-ext.qcow2")]
    public void CheckRepair_UnalignedZeroCluster_LeavesCleanImageLikeQemu(string name)
    {
        Prepare();
        File.Copy(Dir[name], Dir["q-" + name]);
        Img.Run(Dir.Path, "check", "-r", "all", name).Ok();
        Tools.RunIn(Dir.Path, "qemu-img", "check", "-r", "all", "q-" + name).Ok();
        Tools.RunIn(Dir.Path, "qemu-img", "check", name).Ok();
        Tools.RunIn(Dir.Path, "qemu-img", "compare", name, "q-" + name).Ok();
    }

    /// <summary>A create qemu refuses leaves no file behind.</summary>
    [TestCase("-b base.qcow2 -F garbage")]
    [TestCase("-u -b base.qcow2 -F garbage")]
    public void Create_BadBackingFormat_NoFileLeft(string options)
    {
        Prepare();
        var r = Img.Run(Dir.Path, ["create", "-f", "qcow2", .. options.Split(' '), "new.qcow2", "32M"]);
        Assert.That(r.ExitCode, Is.EqualTo(1));
        Assert.That(File.Exists(Dir["new.qcow2"]), Is.False);
    }

    [Test]
    public void Commit_ResultsEqualQemu()
    {
        Prepare();
        Img.Run(Dir.Path, "commit", "top.qcow2").Ok();
        Directory.CreateDirectory(Dir["saved"]); // Prepare clears only the top directory
        foreach (var f in new[] { "base", "mid", "top" }) File.Copy(Dir[$"{f}.qcow2"], Dir[$"saved/{f}.qcow2"]);
        Prepare();
        Tools.RunIn(Dir.Path, "qemu-img", "commit", "top.qcow2").Ok();
        foreach (var f in new[] { "base", "mid", "top" })
            Tools.RunIn(Dir.Path, "qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", $"saved/{f}.qcow2", $"{f}.qcow2").Ok();
    }
}
