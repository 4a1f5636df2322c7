using System.Buffers.Binary;
using ImageTool.Options;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Vmdk;

/// <summary>Hostile or broken VMDK files give one clear error: no crash, no hang, no huge allocation.</summary>
public class VmdkBadInputTests
{
    private const string Head = "# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n# Extents\n";

    private static string OpenError(TempDir dir, string name)
    {
        var e = Assert.Catch<ImageFormatException>(() => DiskImage.Open(dir[name], new OpenOptions { Format = "vmdk" }).Dispose());
        return e!.Message;
    }

    [TestCase("RW 100 FLAT \"missing-flat.vmdk\" 0", "No such file or directory")]
    [TestCase("RW 100 FLAT \"x.bin\"", "Invalid extent line: RW 100 FLAT \"x.bin\"")]
    [TestCase("RW 9223372036854775807 FLAT \"x.bin\" 0", "The extents add up to more than the largest possible disk")]
    [TestCase("RW 100 FLAT \"x.bin\" 99999999999999999999", "Invalid extent line: flat offset 9223372036854775807")]
    [TestCase("RW 100 SPARSE \"x.bin\"", "Image not in VMDK format")]
    [TestCase("RW 100 SESPARSE \"x.bin\"", "Unsupported extent type 'SESPARSE'")]
    public void Descriptor_BadExtent_ClearError(string line, string message)
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["x.bin"], new byte[4096]);
        File.WriteAllText(dir["d.vmdk"], Head + line + "\n");
        Assert.That(OpenError(dir, "d.vmdk"), Does.EndWith(message));
    }

    [TestCase("createType=\"monolithicSparse\"", "Unsupported image type 'monolithicSparse'")]
    [TestCase("createType=\"streamOptimized\"", "Unsupported image type 'streamOptimized'")]
    [TestCase("nothing here", "invalid VMDK image descriptor")]
    public void Descriptor_BadCreateType_QemuMessage(string text, string message)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["d.vmdk"], "version=1\n" + text + "\n");
        Assert.That(OpenError(dir, "d.vmdk"), Does.EndWith(message));
    }

    [Test]
    public void Descriptor_NegativeExtent_IsIgnoredAsQemu()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["x.bin"], new byte[4096]);
        File.WriteAllText(dir["d.vmdk"], Head + "RW -100 FLAT \"x.bin\" 0\nRW 8 FLAT \"x.bin\" 0\n");
        using var image = DiskImage.Open(dir["d.vmdk"]);
        Assert.That(image.Length, Is.EqualTo(4096));
    }

    private static byte[] SparseImage(TempDir dir)
    {
        DiskImage.Create(new CreateRequest(dir["s.vmdk"], "vmdk") { Size = 1 << 20 });
        return File.ReadAllBytes(dir["s.vmdk"]);
    }

    [TestCase(4, 4u, "Unsupported VMDK version 4")]
    [TestCase(44, 513u, "L2 table size too big")]
    [TestCase(44, 0u, "L1 entry size is invalid")]
    public void SparseHeader_BadField_QemuMessage(int at, uint value, string message)
    {
        using var dir = new TempDir();
        var bytes = SparseImage(dir);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), value);
        File.WriteAllBytes(dir["s.vmdk"], bytes);
        Assert.That(OpenError(dir, "s.vmdk"), Does.EndWith(message));
    }

    [TestCase(20, 0x400000ul, "Invalid granularity, image may be corrupt")]
    [TestCase(12, 0x7FFFFFFFFFFFFFFFul, "L1 size too big")]
    [TestCase(64, 0x100000ul, "File truncated, expecting at least 536870912 bytes")]
    [TestCase(56, 0x100000ul, "lies beyond the end of the file (65536 bytes)")]
    [TestCase(56, 0xFFFFFFFFFFFFFFFFul, "Invalid footer")]
    public void SparseHeader_Bad64BitField_ClearError(int at, ulong value, string message)
    {
        using var dir = new TempDir();
        var bytes = SparseImage(dir);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at), value);
        File.WriteAllBytes(dir["s.vmdk"], bytes);
        Assert.That(OpenError(dir, "s.vmdk"), Does.EndWith(message));
    }

    [Test]
    public void TinyFile_IsRefused()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["t.vmdk"], "KD"u8.ToArray());
        Assert.That(OpenError(dir, "t.vmdk"), Does.EndWith("File is too small, not a valid image"));
    }

    [Test]
    public void StreamMarker_WrongSize_ReadFailsClearly()
    {
        using var dir = new TempDir();
        VmwareStreamBuilder.Write(dir["m.vmdk"], SeededData.Bytes(1 << 20, 3), grainDataSizeDelta: 1 << 20);
        using var image = DiskImage.Open(dir["m.vmdk"]);
        var e = Assert.Catch<ImageFormatException>(() => image.Read(0, new byte[4096]));
        Assert.That(e!.Message, Does.Contain("Invalid grain marker"));
    }

    [Test]
    public void StreamMarker_CorruptData_ReadFailsClearly()
    {
        using var dir = new TempDir();
        VmwareStreamBuilder.Write(dir["m.vmdk"], SeededData.Bytes(1 << 20, 3), grainDataSizeDelta: -100);
        using var image = DiskImage.Open(dir["m.vmdk"]);
        var e = Assert.Catch<ImageFormatException>(() => image.Read(0, new byte[4096]));
        Assert.That(e!.Message, Does.Contain("holds only"));
    }

    [Test]
    public void GrainTablePastEof_ReadFailsClearly()
    {
        using var dir = new TempDir();
        var bytes = SparseImage(dir);
        long gd = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(56));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan((int)(gd * 512)), 0x7FFFFFFF);
        File.WriteAllBytes(dir["s.vmdk"], bytes);
        using var image = DiskImage.Open(dir["s.vmdk"]);
        var e = Assert.Catch<ImageFormatException>(() => image.Read(0, new byte[512]));
        Assert.That(e!.Message, Does.Contain("lies beyond the end of the file"));
    }

    [Test]
    public void MissingCid_IsInvalidArgumentAsQemu()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["x.bin"], new byte[4096]);
        File.WriteAllText(dir["d.vmdk"], "version=1\ncreateType=\"monolithicFlat\"\nRW 8 FLAT \"x.bin\" 0\n");
        Assert.That(OpenError(dir, "d.vmdk"), Does.EndWith(": Invalid argument"));
    }

    [Test]
    public void Fuzz_MutatedSparseImage_NeverCrashes()
    {
        using var dir = new TempDir();
        DiskImage.Create(new CreateRequest(dir["f.vmdk"], "vmdk")
        {
            Size = 2 << 20,
            Options = new ImageOptions().Set("subformat", "streamOptimized"),
        });
        using (var image = DiskImage.Open(dir["f.vmdk"], new OpenOptions { ReadOnly = false }))
            image.Write(0, SeededData.Bytes(4 * 65536, 5));
        var original = File.ReadAllBytes(dir["f.vmdk"]);
        var random = new Random(12);
        var buffer = new byte[2 << 20];
        for (int round = 0; round < 300; round++)
        {
            var bytes = (byte[])original.Clone();
            for (int k = 0; k < 4; k++)
            {
                int at = random.Next(round % 2 == 0 ? 128 : bytes.Length);
                bytes[at] = (byte)random.Next(256);
            }
            File.WriteAllBytes(dir["m.vmdk"], bytes);
            try
            {
                using var image = DiskImage.Open(dir["m.vmdk"], new OpenOptions { Format = "vmdk" });
                image.Read(0, buffer.AsSpan(0, (int)Math.Min(buffer.Length, image.Length)));
                image.GetBlockStatus(0, image.Length);
            }
            catch (Exception e) when (e is ImageFormatException or IOException) { }
        }
    }
}
