using System.Buffers.Binary;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Qcow2;

/// <summary>Patched and truncated images: img fails with qemu-img's message, never crashes, writes nothing.</summary>
public class Qcow2BadInputTests
{
    private static void Patch(string path, int offset, ulong value, int size)
    {
        var bytes = File.ReadAllBytes(path);
        if (size == 4) BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(offset), (uint)value);
        else BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(offset), value);
        File.WriteAllBytes(path, bytes);
    }

    private static string ImgOpenError(string path, bool readOnly = true)
    {
        try
        {
            using var image = DiskImage.Open(path, new OpenOptions { ReadOnly = readOnly, OpenBacking = false });
            image.GetInfo();
            return "";
        }
        catch (ImageFormatException e)
        {
            return e.Message;
        }
    }

    [TestCase(4, 4, 4ul)] // version
    [TestCase(20, 4, 8ul)] // cluster_bits too small
    [TestCase(20, 4, 22ul)] // cluster_bits too big
    [TestCase(72, 8, 0x20ul)] // unknown incompatible bit
    [TestCase(72, 8, 0x120ul)]
    [TestCase(96, 4, 7ul)] // refcount_order
    [TestCase(100, 4, 96ul)] // header_length too short
    [TestCase(100, 4, 0x20000ul)] // header_length beyond the cluster
    [TestCase(36, 4, 0x400001ul)] // L1 above 32 MiB
    [TestCase(36, 4, 1ul)] // L1 too small for the size
    [TestCase(40, 8, 0x30001ul)] // L1 unaligned
    [TestCase(56, 4, 0x81ul)] // refcount table above 8 MiB
    [TestCase(48, 8, 0x10008ul)] // refcount table unaligned
    [TestCase(56, 4, 0ul)] // no refcount table
    [TestCase(32, 4, 3ul)] // crypt method
    [TestCase(8, 8, 0x20000ul)] // backing file offset past cluster 0
    [TestCase(60, 4, 70000ul)] // too many snapshots
    [TestCase(64, 8, 0x123ul)] // snapshot table unaligned
    public void Open_PatchedHeader_FailsWithQemuMessage(int offset, int size, ulong value)
    {
        using var dir = new TempDir();
        string path = dir["p.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", path, "1G").Ok();
        Patch(path, offset, value, size);
        var qemu = Tools.QemuImg("info", path);
        Assert.That(qemu.ExitCode, Is.EqualTo(1));
        byte[] before = File.ReadAllBytes(path);
        Assert.That("qemu-img: " + ImgOpenError(path) + "\n", Is.EqualTo(qemu.Stderr));
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(before));
    }

    [TestCase(50)]
    [TestCase(100)]
    public void Open_TruncatedHeader_SaysHeaderTooShort(int length)
    {
        using var dir = new TempDir();
        string path = dir["t.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", path, "1G").Ok();
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..length]);
        Assert.That(ImgOpenError(path), Is.EqualTo($"Could not open '{path}': qcow2 header too short"));
    }

    [Test]
    public void Open_CorruptBit_ReadOnlyWorksReadWriteRefused()
    {
        using var dir = new TempDir();
        string path = dir["c.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", path, "1M").Ok();
        Patch(path, 72, 2, 8);
        Assert.That(ImgOpenError(path), Is.Empty);
        Assert.That(ImgOpenError(path, readOnly: false), Is.EqualTo($"Could not open '{path}': qcow2: Image is corrupt; cannot be opened read/write"));
    }

    [Test]
    public void Read_UnalignedDataCluster_ReportsCorruption_PastEofReadsZeros()
    {
        using var dir = new TempDir();
        string path = dir["u.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", path, "64M").Ok();
        Tools.QemuIo("-c", "write -P 0xab 0 128k", path).Ok();
        Patch(path, 0x40000, 0x8000000000050200, 8);
        Patch(path, 0x40008, 0x8000000010000000, 8);
        using var image = DiskImage.Open(path);
        var buffer = new byte[65536];
        var e = Assert.Throws<ImageCorruptException>(() => image.Read(0, buffer));
        Assert.That(e!.Message, Is.EqualTo("Cluster allocation offset 0x50200 unaligned (L2 offset: 0x40000, L2 index: 0)"));
        buffer[0] = 1;
        image.Read(65536, buffer);
        Assert.That(buffer, Is.All.Zero);
    }

    [Test]
    public void Open_EveryTruncation_NeverCrashes()
    {
        using var dir = new TempDir();
        string path = dir["f.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", path, "16M").Ok();
        Tools.QemuIo("-c", "write -P 0xab 0 64k", path).Ok();
        var full = File.ReadAllBytes(path);
        for (int length = 0; length < full.Length; length += 997)
        {
            File.WriteAllBytes(path, full[..length]);
            try
            {
                using var image = DiskImage.Open(path, new OpenOptions { Format = "qcow2" });
                var buffer = new byte[65536];
                image.Read(0, buffer);
                image.GetBlockStatus(0, image.Length);
                Assert.That(buffer.AsSpan(0, Math.Max(0, length - 0x5000)).SequenceEqual(full.AsSpan(0x5000, Math.Max(0, length - 0x5000))), Is.True);
            }
            catch (ImageFormatException) { }
        }
    }

    [Test]
    public void Write_OverBrokenMapping_MarksImageCorruptAsQemu()
    {
        using var dir = new TempDir();
        string path = dir["w.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", path, "64M").Ok();
        Tools.QemuIo("-c", "write -P 0xab 0 64k", path).Ok();
        Patch(path, 0x40000, 0x8000000000050200, 8);
        var warnings = new List<string>();
        using (var image = DiskImage.Open(path, new OpenOptions { ReadOnly = false, Warning = w => warnings.Add(w.Message) }))
            Assert.Throws<ImageIOException>(() => image.Write(0, new byte[512]));
        Assert.That(warnings, Is.EqualTo(new[] { "qcow2: Marking image as corrupt: Data cluster offset 0x50200 unaligned (guest offset: 0); further corruption events will be suppressed" }));
        Assert.That(Tools.QemuImg("info", path).Ok().Stdout, Does.Contain("corrupt: true"));
        Assert.That(ImgOpenError(path, readOnly: false), Does.EndWith("qcow2: Image is corrupt; cannot be opened read/write"));
    }
}
