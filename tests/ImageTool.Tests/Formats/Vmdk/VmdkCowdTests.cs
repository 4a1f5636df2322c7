using System.Buffers.Binary;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Vmdk;

/// <summary>VMFS sparse ("COWD") extents behind a vmfsSparse descriptor, read and written as qemu does.</summary>
[Category("Qemu")]
public class VmdkCowdTests
{
    private const int Sectors = 2048, GrainSectors = 16, GtSector = 8, FirstGrainSector = GtSector + 32;

    /// <summary>A 1 MiB COWD extent: header, directory at sector 4, one 4096-entry table at 8, grains 1 and 5 stored.</summary>
    private static byte[] WriteCowd(string dir, byte[] model)
    {
        var file = new byte[(FirstGrainSector + 2 * GrainSectors) * 512];
        "COWD"u8.CopyTo(file);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(4), 1);             // version
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(8), 3);             // flags
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(12), Sectors);      // disk sectors
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(16), GrainSectors); // granularity
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(20), 4);            // directory sector
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(24), 1);            // directory entries
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(4 * 512), GtSector);
        int grain = GrainSectors * 512;
        int slot = 0;
        foreach (int g in new[] { 1, 5 })
        {
            uint sector = (uint)(FirstGrainSector + slot * GrainSectors);
            BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(GtSector * 512 + g * 4), sector);
            model.AsSpan(g * grain, grain).CopyTo(file.AsSpan((int)sector * 512));
            slot++;
        }
        File.WriteAllBytes(Path.Combine(dir, "c-delta.vmdk"), file);
        File.WriteAllText(Path.Combine(dir, "c.vmdk"),
            "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"vmfsSparse\"\n" +
            $"# Extent description\nRW {Sectors} VMFSSPARSE \"c-delta.vmdk\"\n");
        return model;
    }

    [Test]
    public void Cowd_ReadAndWrite_AgreeWithQemu()
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        var model = new byte[Sectors * 512];
        int grain = GrainSectors * 512;
        SeededData.Bytes(grain, 1).CopyTo(model, grain);
        SeededData.Bytes(grain, 2).CopyTo(model, 5 * grain);
        WriteCowd(dir.Path, model);
        File.WriteAllBytes(dir["m.raw"], model);
        using (var image = DiskImage.Open(dir["c.vmdk"]))
            VmdkTestImages.AssertReadsAs(image, model);
        Tools.QemuImg("compare", "-F", "vmdk", dir["m.raw"], dir["c.vmdk"]).Ok();

        var patch = SeededData.Bytes(3000, 3);
        using (var image = DiskImage.Open(dir["c.vmdk"], new OpenOptions { ReadOnly = false }))
            image.Write(20 * grain + 100, patch);
        patch.CopyTo(model, 20 * grain + 100);
        File.WriteAllBytes(dir["m.raw"], model);
        Tools.QemuImg("compare", "-F", "vmdk", dir["m.raw"], dir["c.vmdk"]).Ok();
    }

    [Test]
    public void VmwareStream_WithFooter_IsNotWritable()
    {
        using var dir = new TempDir();
        VmwareStreamBuilder.Write(dir["vm.vmdk"], SeededData.Bytes(1 << 20, 3));
        var before = File.ReadAllBytes(dir["vm.vmdk"]);
        using (var image = DiskImage.Open(dir["vm.vmdk"], new OpenOptions { ReadOnly = false }))
            Assert.Throws<IOException>(() => image.Write(1 << 19, new byte[65536]));
        Assert.That(File.ReadAllBytes(dir["vm.vmdk"]), Is.EqualTo(before));
    }
}
