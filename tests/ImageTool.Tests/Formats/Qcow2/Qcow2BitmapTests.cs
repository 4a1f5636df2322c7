using System.Buffers.Binary;
using ImageTool.Operations;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Qcow2;

/// <summary>
/// Writing into images with persistent dirty bitmaps (made by qemu-img bitmap --add): img must leave them as
/// qemu does (in-use while open, dirty bits for enabled bitmaps, stored at close). qemu on a twin file is the
/// oracle: the files must be byte-identical, and qemu-img check clean.
/// </summary>
[Category("Qemu")]
public class Qcow2BitmapTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        Tools.Require("qemu-img");
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private string Q => _dir["q.qcow2"];
    private string Mine => _dir["img.qcow2"];

    private void MakeTwins(string options = "cluster_size=65536", bool inUse = false, bool bm1InUse = false)
    {
        string path = _dir["made.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", options, path, "4M").Ok();
        Tools.QemuImg("bitmap", "--add", path, "bm0").Ok();
        Tools.QemuImg("bitmap", "--add", "-g", "128k", path, "bm1").Ok();
        Tools.QemuImg("bitmap", "--add", "--disable", path, "bm2").Ok();
        Tools.QemuIo("-c", "write -P 1 0 1M", path).Ok();
        if (inUse)
        {
            // qemu-io killed while the image is open leaves its bitmaps flagged in-use: inconsistent.
            Tools.QemuIo("-c", "write -P 2 3M 4k", "-c", "abort", path);
            Assert.That(Tools.QemuImg("info", path).Ok().Stdout, Does.Contain("in-use"));
        }
        if (bm1InUse) FlagSecondBitmapInUse(path);
        File.Copy(path, Q);
        File.Copy(path, Mine);
    }

    /// <summary>The bitmap directory's offset, from the bitmaps header extension.</summary>
    private static long DirectoryOffset(string path)
    {
        var bytes = File.ReadAllBytes(path);
        int at = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(100)); // header length: the extensions follow
        while (BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(at)) != 0x23852875)
            at += 8 + (((int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(at + 4)) + 7) & ~7);
        return (long)BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(at + 8 + 16));
    }

    /// <summary>Sets the in-use flag of the directory's second entry (after "bm0": 24 + 3 bytes, padded to 32).</summary>
    private static void FlagSecondBitmapInUse(string path)
    {
        long directory = DirectoryOffset(path);
        var bytes = File.ReadAllBytes(path);
        bytes[directory + 32 + 15] |= 1;
        File.WriteAllBytes(path, bytes);
        Assert.That(Tools.QemuImg("info", path).Ok().Stdout, Does.Contain("in-use"));
    }

    private void AssertTwinsEqual()
    {
        Tools.QemuImg("check", Mine).Ok();
        // "disk size" counts the file's allocated blocks, which hole punching and preallocation make differ.
        string Info(string path) => string.Join('\n', Tools.QemuImg("info", path).Ok().Stdout.Split('\n')
            .Where(l => !l.StartsWith("disk size:", StringComparison.Ordinal) && !l.StartsWith("image:", StringComparison.Ordinal)));
        Assert.That(Info(Mine), Is.EqualTo(Info(Q)));
        Assert.That(File.ReadAllBytes(Mine), Is.EqualTo(File.ReadAllBytes(Q)), "same bitmaps, same layout as qemu");
    }

    [TestCase("cluster_size=65536", false, false)]
    [TestCase("cluster_size=4096", false, false)]
    [TestCase("cluster_size=65536", true, false)]
    [TestCase("cluster_size=65536", false, true)]
    public void Writes_SetDirtyBitsAndStoreBitmapsLikeQemu(string options, bool allInUse, bool bm1InUse)
    {
        MakeTwins(options, allInUse, bm1InUse);
        Tools.QemuIo("-c", "write -P 3 2M 4k", "-c", "write -z 3M 64k", "-c", "write -P 4 100k 300k", Q).Ok();
        using (var image = DiskImage.Open(Mine, new OpenOptions { ReadOnly = false }))
        {
            var data = new byte[300 << 10];
            Array.Fill(data, (byte)3);
            image.Write(2 << 20, data.AsSpan(0, 4096));
            image.WriteZeroes(3 << 20, 64 << 10, mayDeallocate: false);
            Array.Fill(data, (byte)4);
            image.Write(100 << 10, data);
        }
        AssertTwinsEqual();
    }

    [TestCase(8, 2, 4)] // table size
    [TestCase(17, 40, 1)] // granularity bits
    [TestCase(16, 2, 1)] // type
    [TestCase(12, 8, 4)] // unknown flag
    [TestCase(4, 0x1c0001, 4)] // unaligned table (low word of the offset)
    public void Open_InvalidBitmap_FailsWithQemusMessageAndWritesNothing(int field, int value, int size)
    {
        MakeTwins();
        long directory = DirectoryOffset(Mine);
        var bytes = File.ReadAllBytes(Mine);
        if (size == 1) bytes[directory + field] = (byte)value;
        else BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan((int)directory + field), (uint)value);
        File.WriteAllBytes(Mine, bytes);
        var qemu = Tools.QemuImg("info", Mine);
        Assert.That(qemu.ExitCode, Is.EqualTo(1));
        foreach (bool readOnly in new[] { true, false })
        {
            var e = Assert.Throws<ImageFormatException>(() => DiskImage.Open(Mine, new OpenOptions { ReadOnly = readOnly }).Dispose());
            Assert.That($"qemu-img: {e!.Message}\n", Is.EqualTo(qemu.Stderr));
        }
        Assert.That(File.ReadAllBytes(Mine), Is.EqualTo(bytes));
    }

    [Test]
    public void OpenReadWrite_FlagsBitmapsInUseUntilClose()
    {
        MakeTwins();
        using (var image = DiskImage.Open(Mine, new OpenOptions { ReadOnly = false }))
        {
            image.Write(0, new byte[512]);
            Assert.That(Tools.QemuImg("info", "-U", Mine).Ok().Stdout, Does.Contain("in-use"));
        }
        Assert.That(Tools.QemuImg("info", Mine).Ok().Stdout, Does.Not.Contain("in-use"));
        Tools.QemuImg("check", Mine).Ok();
    }

    [Test]
    public void Resize_KeepsBitmapsLikeQemu()
    {
        MakeTwins();
        Tools.QemuImg("resize", "-q", Q, "300M").Ok();
        using (var image = DiskImage.Open(Mine, new OpenOptions { ReadOnly = false }))
            ResizeOperation.Run(image, 300 << 20);
        AssertTwinsEqual();
    }

    [Test]
    public void Commit_IntoBaseWithBitmaps_MarksWhatItCopiesLikeQemu()
    {
        MakeTwins();
        foreach (var (name, basePath) in new[] { ("top-q.qcow2", Q), ("top-img.qcow2", Mine) })
        {
            Tools.QemuImg("create", "-q", "-f", "qcow2", "-b", basePath, "-F", "qcow2", _dir[name]).Ok();
            Tools.QemuIo("-c", "write -P 9 1536k 200k", _dir[name]).Ok();
        }
        Tools.QemuImg("commit", "-q", _dir["top-q.qcow2"]).Ok();
        CommitOperation.Run(_dir["top-img.qcow2"], new CommitOptions());
        AssertTwinsEqual();
    }
}
