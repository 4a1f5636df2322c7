using System.Buffers.Binary;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Qcow2;

/// <summary>
/// qemu's metadata overlap check: hand-damaged images whose L2 entry or refcounts would make a write land on
/// metadata. qemu-io on a twin image is the oracle for the warning, and both files must end up identical.
/// </summary>
[Category("Qemu")]
public class Qcow2OverlapTests
{
    // A 1 MiB image with 64 KiB clusters after one write: header 0, refcount table 0x10000, refcount block
    // 0x20000, L1 0x30000, L2 0x40000, data 0x50000.
    private const int L2 = 0x40000, RefcountBlock = 0x20000;

    private TempDir _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        Tools.Require("qemu-io");
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private static void Poke(string path, long offset, ulong value, int size = 8)
    {
        using var fs = new FileStream(path, FileMode.Open);
        var bytes = new byte[size];
        if (size == 2) BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)value);
        else BinaryPrimitives.WriteUInt64BigEndian(bytes, value);
        fs.Position = offset;
        fs.Write(bytes);
    }

    private static ulong Peek(string path, long offset, int size = 8)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read);
        var bytes = new byte[size];
        fs.Position = offset;
        fs.ReadExactly(bytes);
        return size == 4 ? BinaryPrimitives.ReadUInt32BigEndian(bytes) : BinaryPrimitives.ReadUInt64BigEndian(bytes);
    }

    private string MakeImage(string options = "compat=1.1", bool snapshot = false)
    {
        string path = _dir["base.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", options, path, "1M").Ok();
        Tools.QemuIo("-c", "write -P 1 0 64k", path).Ok();
        if (snapshot) Tools.QemuImg("snapshot", "-c", "s1", path).Ok();
        return path;
    }

    /// <summary>
    /// Writes through qemu-io and img on twin copies: same warning, and img changes nothing but the corrupt bit
    /// (qemu, which writes a copied L2 table at once, may leave more behind: then only img's file is compared).
    /// </summary>
    private void AssertWriteRefusedLikeQemu(string damaged, long guestOffset, string expectedSection, bool sameFileAsQemu = true,
        bool onlyCorruptBit = true)
    {
        string q = _dir["q.qcow2"], mine = _dir["img.qcow2"];
        File.Copy(damaged, q, true);
        File.Copy(damaged, mine, true);
        var qemu = Tools.QemuIo("-c", $"write -P 2 {guestOffset} 4k", "-c", "read 0 4k", q);
        string expected = $"qcow2: Marking image as corrupt: Preventing invalid write on metadata (overlaps with {expectedSection}); further corruption events will be suppressed";
        Assert.That(qemu.Stderr.Trim(), Is.EqualTo(expected), "qemu-io is the oracle");

        var warnings = new List<string>();
        using (var image = DiskImage.Open(mine, new OpenOptions { ReadOnly = false, Warning = w => warnings.Add(w.Message) }))
        {
            var data = new byte[4096];
            Array.Fill(data, (byte)2);
            var e = Assert.Throws<ImageIOException>(() => image.Write(guestOffset, data));
            Assert.That((e!.Message, e.Offset), Is.EqualTo(("Input/output error", guestOffset)));
            var again = Assert.Throws<ImageIOException>(() => image.Read(0, new byte[4096]));
            Assert.That(again!.Message, Is.EqualTo("No medium found"));
        }
        Assert.That(warnings, Is.EqualTo(new[] { expected }));
        var after = File.ReadAllBytes(mine);
        var before = File.ReadAllBytes(damaged);
        bool v3 = Peek(damaged, 4, 4) == 3;
        if (v3) before[79] |= 2; // the corrupt bit
        if (onlyCorruptBit) Assert.That(after, Is.EqualTo(before), "img changed nothing but the corrupt bit");
        if (sameFileAsQemu) Assert.That(after, Is.EqualTo(File.ReadAllBytes(q)), "img wrote what qemu wrote");
        if (v3) Assert.That(Tools.QemuImg("info", mine).Ok().Stdout, Does.Contain("corrupt: true"));
    }

    [TestCase(0x10000, "refcount table")]
    [TestCase(0x20000, "refcount block")]
    [TestCase(0x30000, "active L1 table")]
    [TestCase(0x40000, "active L2 table")]
    public void InPlaceWrite_OntoMetadata_IsRefused(long target, string section)
    {
        string path = MakeImage();
        Poke(path, L2, (ulong)target | 1UL << 63);
        AssertWriteRefusedLikeQemu(path, 0, section);
    }

    [TestCase(0, "qcow2_header")]
    [TestCase(1, "refcount table")]
    [TestCase(2, "refcount block")]
    [TestCase(3, "active L1 table")]
    [TestCase(4, "active L2 table")]
    public void Allocation_OntoMetadataWithZeroRefcount_IsRefused(int cluster, string section)
    {
        string path = MakeImage();
        Poke(path, RefcountBlock + 2 * cluster, 0, 2);
        AssertWriteRefusedLikeQemu(path, 64 << 10, section);
    }

    [TestCase("snapshot table")]
    [TestCase("inactive L1 table")]
    public void Write_OntoSnapshotMetadata_IsRefused(string section)
    {
        string path = MakeImage(snapshot: true);
        long table = (long)Peek(path, 64);
        long target = section == "snapshot table" ? table : (long)Peek(path, table);
        Assert.That(target % 0x10000, Is.Zero);
        Poke(path, (long)(Peek(path, 0x30000) & 0x00FF_FFFF_FFFF_FE00), (ulong)target | 1UL << 63);
        AssertWriteRefusedLikeQemu(path, 0, section, sameFileAsQemu: false);
    }

    [Test]
    public void Write_OntoBitmapDirectory_IsRefused()
    {
        string path = MakeImage();
        Tools.QemuImg("bitmap", "--add", path, "b0").Ok();
        int at = (int)Peek(path, 100, 4); // header length: the extensions follow
        while (Peek(path, at, 4) != 0x23852875) at += 8 + (((int)Peek(path, at + 4, 4) + 7) & ~7);
        long directory = (long)Peek(path, at + 8 + 16);
        Poke(path, L2, (ulong)directory | 1UL << 63);
        // Both flag the bitmap in-use at open (on disk) and never store it again once the image is unusable.
        AssertWriteRefusedLikeQemu(path, 0, "bitmap directory", onlyCorruptBit: false);
    }

    [Test]
    public void V2Image_IsRefusedWithoutCorruptBit()
    {
        string path = MakeImage("compat=0.10");
        Poke(path, L2, 0x30000UL | 1UL << 63);
        AssertWriteRefusedLikeQemu(path, 0, "active L1 table");
    }

    [Test]
    public void HealthyImage_WritesEverywhereWithoutFalseAlarm()
    {
        string path = MakeImage(snapshot: true);
        var warnings = new List<string>();
        var data = new byte[1 << 20];
        new Random(4).NextBytes(data);
        using (var image = DiskImage.Open(path, new OpenOptions { ReadOnly = false, Warning = w => warnings.Add(w.Message) }))
        {
            image.Write(0, data);
            image.WriteZeroes(0, 128 << 10, mayDeallocate: true);
            image.Write(4096, data.AsSpan(0, 300 << 10));
        }
        Assert.That(warnings, Is.Empty);
        Tools.QemuImg("check", path).Ok();
    }
}
