using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// <c>compare -s</c>: qemu compares the block status of both sides chunk by chunk (data, zero, allocated,
/// offset, end of image), so img must split and flag runs as qemu does. Inputs are built with qemu-img/qemu-io.
/// </summary>
[Category("Qemu")]
public class StrictCompareGoldenTests
{
    private TempDir _dir = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        Tools.Require("qemu-img");
        Tools.Require("qemu-io");
        _dir = new TempDir();
        Qemu("create", "-q", "-f", "raw", "r.raw", "4M");
        Io("-f", "raw", "r.raw", "write -P 1 0 1M", "write -P 2 2M 64k");
        Qemu("convert", "-O", "qcow2", "r.raw", "q.qcow2");
        Qemu("create", "-q", "-f", "qcow2", "full.qcow2", "4M");
        Io("full.qcow2", "write -P 1 0 4M");
        Qemu("convert", "-O", "raw", "full.qcow2", "full.raw");
        Qemu("create", "-q", "-f", "qcow2", "z.qcow2", "4M");
        Io("z.qcow2", "write -P 1 0 1M", "write -P 2 2M 64k", "write -z 1M 64k");
        Qemu("create", "-q", "-f", "qcow2", "z2.qcow2", "4M");
        Io("z2.qcow2", "write -P 1 0 1M", "write -P 2 2M 64k");
        Qemu("create", "-q", "-f", "qcow2", "zz.qcow2", "4M");
        Io("zz.qcow2", "write -z 0 4M");
        Qemu("create", "-q", "-f", "qcow2", "zu.qcow2", "4M");
        Io("zu.qcow2", "write -P 1 0 4M", "write -z -u 0 4M");
        Qemu("create", "-q", "-f", "qcow2", "-b", "q.qcow2", "-F", "qcow2", "ov.qcow2");
        Io("ov.qcow2", "write -P 1 0 4k");
        Qemu("create", "-q", "-f", "qcow2", "-b", "q.qcow2", "-F", "qcow2", "ov2.qcow2");
        // s.raw: 3M, shorter than the 4M overlays on it.
        Qemu("create", "-q", "-f", "raw", "s.raw", "3M");
        Qemu("create", "-q", "-f", "qcow2", "-b", "s.raw", "-F", "raw", "ovs.qcow2", "4M");
        Qemu("create", "-q", "-f", "qcow2", "-b", "s.raw", "-F", "raw", "ovs2.qcow2", "4M");
        Io("ovs2.qcow2", "write -P 1 2M 2M");
        Qemu("convert", "-O", "raw", "ovs2.qcow2", "ovs2.raw");
        Qemu("create", "-q", "-f", "raw", "-o", "preallocation=full", "pr.raw", "4M");
        Qemu("create", "-q", "-f", "raw", "e.raw", "4M");
        Qemu("create", "-q", "-f", "qcow2", "e.qcow2", "4M");
        File.Copy(_dir["full.qcow2"], _dir["d.qcow2"]);
        Io("d.qcow2", "discard 1M 1M");
        File.Copy(_dir["full.raw"], _dir["d.raw"]);
        Io("-f", "raw", "d.raw", "discard 1M 1M");
        // 512-byte clusters: an L2 table maps 32 KiB, and qemu's runs end with their table.
        Qemu("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", "sm.qcow2", "4M");
        Io("sm.qcow2", "write -P 1 0 4M");
        Qemu("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", "-b", "q.qcow2", "-F", "qcow2", "smo.qcow2");
        Io("smo.qcow2", "write -P 9 100k 100k");
        Qemu("convert", "-O", "qcow2", "smo.qcow2", "smo2.qcow2");
        Qemu("convert", "-c", "-O", "qcow2", "full.raw", "c.qcow2");
        // Data across the first L2 table's end (512 MiB with 64 KiB clusters).
        Qemu("create", "-q", "-f", "qcow2", "big.qcow2", "1G");
        Io("big.qcow2", "write -P 1 511M 2M");
        Qemu("convert", "-O", "raw", "big.qcow2", "big.raw");
        // Extended L2: allocated clusters whose subclusters are partly unallocated report a host offset with their
        // zeros (qemu's UNALLOCATED_ALLOC), unlike unallocated clusters; seeded write sequences cover the mix.
        for (int seed = 0; seed < 6; seed++)
        {
            string name = $"x{seed}.qcow2";
            string options = seed % 2 == 0 ? "extended_l2=on" : "extended_l2=on,backing_file=r.raw,backing_fmt=raw";
            Qemu("create", "-q", "-f", "qcow2", "-o", options, name, "4M");
            Io([name, .. RandomWrites(seed)]);
        }
    }

    /// <summary>Writes, zero writes and writes of zeros at 2 KiB granularity (subclusters of 64 KiB clusters are 2 KiB).</summary>
    private static string[] RandomWrites(int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, 8).Select(_ =>
        {
            long offset = random.Next(2048) * 2048L;
            long length = Math.Min(random.Next(1, 48) * 2048L, (4 << 20) - offset);
            return random.Next(3) switch
            {
                0 => $"write -P 5 {offset} {length}",
                1 => $"write -z {offset} {length}",
                _ => $"write -P 0 {offset} {length}",
            };
        })];
    }

    [OneTimeTearDown]
    public void TearDown() => _dir.Dispose();

    private void Qemu(params string[] args) => Tools.RunIn(_dir.Path, "qemu-img", args).Ok();

    private void Io(params string[] args)
    {
        var list = new List<string>();
        int commands = args.Count(a => a.Contains(' ', StringComparison.Ordinal));
        list.AddRange(args[..(args.Length - commands - 1)]);
        foreach (var c in args[^commands..]) list.AddRange(["-c", c]);
        list.Add(args[args.Length - commands - 1]);
        Tools.RunIn(_dir.Path, "qemu-io", [.. list]).Ok();
    }

    [TestCase("r.raw q.qcow2")]
    [TestCase("q.qcow2 r.raw")]
    [TestCase("full.raw full.qcow2")]
    [TestCase("z.qcow2 z2.qcow2")]
    [TestCase("z.qcow2 r.raw")]
    [TestCase("zz.qcow2 e.qcow2")]
    [TestCase("zz.qcow2 e.raw")]
    [TestCase("zu.qcow2 zz.qcow2")]
    [TestCase("zu.qcow2 e.raw")]
    [TestCase("ov.qcow2 q.qcow2")]
    [TestCase("ov2.qcow2 q.qcow2")]
    [TestCase("ov2.qcow2 r.raw")]
    [TestCase("s.raw r.raw")]
    [TestCase("r.raw s.raw")]
    [TestCase("s.raw q.qcow2")]
    [TestCase("ovs.qcow2 e.raw")]
    [TestCase("e.qcow2 ovs.qcow2")]
    [TestCase("ovs2.qcow2 ovs2.raw")]
    [TestCase("e.raw e.qcow2")]
    [TestCase("pr.raw e.raw")]
    [TestCase("e.raw pr.raw")]
    [TestCase("pr.raw e.qcow2")]
    [TestCase("d.qcow2 d.raw")]
    [TestCase("d.raw full.raw")]
    [TestCase("sm.qcow2 full.raw")]
    [TestCase("full.raw sm.qcow2")]
    [TestCase("sm.qcow2 full.qcow2")]
    [TestCase("smo.qcow2 smo2.qcow2")]
    [TestCase("smo.qcow2 q.qcow2")]
    [TestCase("c.qcow2 full.raw")]
    [TestCase("big.qcow2 big.raw")]
    [TestCase("big.raw big.qcow2")]
    [TestCase("-q pr.raw e.raw")]
    [TestCase("x0.qcow2 x2.qcow2")]
    [TestCase("x2.qcow2 x4.qcow2")]
    [TestCase("x0.qcow2 e.qcow2")]
    [TestCase("e.raw x4.qcow2")]
    [TestCase("x1.qcow2 x3.qcow2")]
    [TestCase("x3.qcow2 x5.qcow2")]
    [TestCase("x1.qcow2 r.raw")]
    [TestCase("x5.qcow2 q.qcow2")]
    public void StrictCompare_MatchesQemuImg(string files) =>
        Img.AssertSameAsQemu(_dir.Path, ["compare", "-s", .. files.Split(' ')]);
}
