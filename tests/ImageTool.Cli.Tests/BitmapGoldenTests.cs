using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// img bitmap against qemu-img bitmap on twin folders: same stdout, stderr and exit code, and byte-identical
/// images afterwards (same bitmaps, same cluster layout), which qemu-img check finds clean.
/// </summary>
[Category("Qemu")]
public class BitmapGoldenTests : QemuGoldenTestBase
{
    private static readonly string[] Images = ["plain.qcow2", "bm.qcow2", "inuse.qcow2", "other.qcow2", "small.qcow2"];

    /// <summary>Where the bitmaps extension of a v3 header says the bitmap directory is.</summary>
    private static int BitmapDirectoryOffset(byte[] image)
    {
        int at = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(image.AsSpan(100));
        while (true)
        {
            uint type = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(image.AsSpan(at));
            int length = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(image.AsSpan(at + 4));
            if (type == 0x23852875) return (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(image.AsSpan(at + 8 + 16));
            if (type == 0) throw new InvalidOperationException("no bitmaps extension");
            at += 8 + ((length + 7) & ~7);
        }
    }

    private void Prepare(string dir)
    {
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(dir)) File.Delete(f);
        void Run(string tool, params string[] args) => Tools.RunIn(dir, tool, args).Ok();
        Run("qemu-img", "create", "-q", "-f", "qcow2", "plain.qcow2", "4M");
        Run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", "small.qcow2", "4M");
        Run("qemu-img", "create", "-q", "-f", "qcow2", "bm.qcow2", "4M");
        Run("qemu-img", "bitmap", "--add", "bm.qcow2", "bm0");
        Run("qemu-img", "bitmap", "--add", "-g", "128k", "bm.qcow2", "bm1");
        Run("qemu-img", "bitmap", "--add", "--disable", "bm.qcow2", "bm2");
        Run("qemu-io", "-c", "write -P 1 0 1M", "-c", "write -P 2 3M 4k", "bm.qcow2");
        File.Copy(Path.Combine(dir, "bm.qcow2"), Path.Combine(dir, "inuse.qcow2"));
        Tools.RunIn(dir, "qemu-io", "-c", "write -P 3 2M 4k", "-c", "abort", "inuse.qcow2"); // leaves the bitmaps in-use
        // iotest 242: a bitmap with a flag qemu 7.2 reserves (bit 2) makes the image refuse to open.
        Run("qemu-img", "create", "-q", "-f", "qcow2", "reserved.qcow2", "1M");
        Run("qemu-img", "bitmap", "--add", "reserved.qcow2", "b1");
        var reserved = File.ReadAllBytes(Path.Combine(dir, "reserved.qcow2"));
        reserved[BitmapDirectoryOffset(reserved) + 15] ^= 4; // low byte of the first entry's flags
        File.WriteAllBytes(Path.Combine(dir, "reserved.qcow2"), reserved);
        // A bitmaps extension whose autoclear bit a program without bitmap support cleared.
        var stale = File.ReadAllBytes(Path.Combine(dir, "bm.qcow2"));
        stale.AsSpan(88, 8).Clear();
        File.WriteAllBytes(Path.Combine(dir, "stale.qcow2"), stale);
        Run("qemu-img", "create", "-q", "-f", "qcow2", "other.qcow2", "4M");
        Run("qemu-img", "bitmap", "--add", "-g", "256k", "other.qcow2", "src");
        Run("qemu-io", "-c", "write -P 4 1536k 600k", "other.qcow2");
    }

    [TestCase("--add plain.qcow2 new")]
    [TestCase("--add -g 128k --disable plain.qcow2 new")]
    [TestCase("--add -g 0 plain.qcow2 new")]
    [TestCase("--add small.qcow2 new")]
    [TestCase("--add bm.qcow2 bm3")]
    [TestCase("--add bm.qcow2 bm0")]
    [TestCase("--add -g 1000 bm.qcow2 x")]
    [TestCase("--add --granularity 512 plain.qcow2 new")] // iotest 190: the long option name
    [TestCase("--add --granularity=64k --disable plain.qcow2 new")]
    [TestCase("--add -g 256 bm.qcow2 x")]
    [TestCase("--add -g abc bm.qcow2 x")]
    [TestCase("--add --remove bm.qcow2 x")]
    [TestCase("--remove bm.qcow2 bm1")]
    [TestCase("--remove bm.qcow2 nope")]
    [TestCase("--remove --remove bm.qcow2 bm0")]
    [TestCase("--clear bm.qcow2 bm0")]
    [TestCase("--disable bm.qcow2 bm0")]
    [TestCase("--enable bm.qcow2 bm2")]
    [TestCase("--merge bm0 bm.qcow2 bm2")]
    [TestCase("--merge bm1 --merge bm0 bm.qcow2 bm2")]
    [TestCase("--merge src -b other.qcow2 bm.qcow2 bm2")]
    [TestCase("--merge src -b other.qcow2 -F qcow2 bm.qcow2 bm0")]
    [TestCase("--clear inuse.qcow2 bm0")]
    [TestCase("--remove inuse.qcow2 bm1")]
    [TestCase("--add inuse.qcow2 fresh")]
    [TestCase("bm.qcow2 bm0")]
    [TestCase("--enable -g 64k bm.qcow2 bm0")]
    [TestCase("--add -F qcow2 bm.qcow2 bm0")]
    [TestCase("--add -b other.qcow2 bm.qcow2 bm0")]
    [TestCase("--add bm.qcow2")]
    [TestCase("--add bm.qcow2 a b")]
    public void Bitmap_MatchesQemuImg(string commandLine)
    {
        var (q, mine, _) = RunOnTwins(["bitmap", .. commandLine.Split(' ')]);
        Assert.Multiple(() =>
        {
            foreach (var name in Images)
                Assert.That(File.ReadAllBytes(Path.Combine(mine, name)), Is.EqualTo(File.ReadAllBytes(Path.Combine(q, name))), name);
        });
        foreach (var name in Images.Where(n => n != "inuse.qcow2")) Tools.RunIn(mine, "qemu-img", "check", name).Ok();
    }

    /// <summary>Runs qemu-img and img on twin folders made by <see cref="Prepare"/>; asserts the same output and exit code.</summary>
    private (string QemuDir, string ImgDir, int ExitCode) RunOnTwins(string[] args)
    {
        string q = Dir["q"], mine = Dir["img"];
        Prepare(q);
        Prepare(mine);
        var qemu = Tools.RunIn(q, "qemu-img", args);
        var img = Img.Run(mine, args);
        Assert.Multiple(() =>
        {
            Assert.That(img.Stdout, Is.EqualTo(qemu.Stdout.Replace("qemu-img", "img", StringComparison.Ordinal)), "stdout");
            Assert.That(img.Stderr, Is.EqualTo(qemu.Stderr.Replace("qemu-img", "img", StringComparison.Ordinal)), "stderr");
            Assert.That(img.ExitCode, Is.EqualTo(qemu.ExitCode), "exit code");
        });
        return (q, mine, qemu.ExitCode);
    }

    // convert --bitmaps: same messages, and the same target file byte for byte (bitmaps, their bits and layout).
    [TestCase("-O qcow2 --bitmaps bm.qcow2 out.qcow2")]
    [TestCase("-O qcow2 --bitmaps plain.qcow2 out.qcow2")]
    [TestCase("-O qcow2 -o cluster_size=4k --bitmaps other.qcow2 out.qcow2")]
    [TestCase("-O qcow2 --bitmaps inuse.qcow2 out.qcow2")]
    [TestCase("-O qcow2 --bitmaps --skip-broken-bitmaps inuse.qcow2 out.qcow2")]
    [TestCase("-O qcow2 --skip-broken-bitmaps bm.qcow2 out.qcow2")]
    [TestCase("-O qcow2 --bitmaps bm.qcow2 other.qcow2 out.qcow2")]
    [TestCase("-O qcow2 -o compat=0.10 --bitmaps bm.qcow2 out.qcow2")]
    [TestCase("-O raw --bitmaps bm.qcow2 out.qcow2")]
    [TestCase("-c -O raw bm.qcow2 out.qcow2")]
    public void ConvertBitmaps_MatchesQemuImg(string commandLine)
    {
        var (q, mine, exitCode) = RunOnTwins(["convert", .. commandLine.Split(' ')]);
        Assert.Multiple(() =>
        {
            string qOut = Path.Combine(q, "out.qcow2"), mineOut = Path.Combine(mine, "out.qcow2");
            Assert.That(File.Exists(mineOut), Is.EqualTo(File.Exists(qOut)), "target created");
            if (exitCode == 0) Assert.That(File.ReadAllBytes(mineOut), Is.EqualTo(File.ReadAllBytes(qOut)), "target");
        });
    }

    [TestCase("info reserved.qcow2")]
    [TestCase("check reserved.qcow2")]
    [TestCase("info stale.qcow2")]
    [TestCase("check stale.qcow2")]
    [TestCase("compare stale.qcow2 bm.qcow2")]
    [TestCase("resize inuse.qcow2 8M")]
    [TestCase("resize bm.qcow2 8M")]
    [TestCase("resize --shrink bm.qcow2 1M")]
    public void Command_MatchesQemuImg(string commandLine)
    {
        Img.AssertSameAsQemu(Dir.Path, commandLine.Split(' '), () => Prepare(Dir.Path));
    }

    [Test]
    public void Info_ListsBitmapsLikeQemu()
    {
        Prepare(Dir.Path);
        foreach (var args in new[] { new[] { "info", "bm.qcow2" }, ["info", "--output=json", "inuse.qcow2"] })
            Img.AssertSameAsQemu(Dir.Path, args);
    }
}
