using ImageTool.Options;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Vmdk;

/// <summary>img and qemu-img create the same files: names, sizes, headers, directories and descriptor text (CID aside).</summary>
[Category("Qemu")]
public class VmdkCreateTests
{
    [TestCase("monolithicSparse", "", "100M")]
    [TestCase("monolithicSparse", "adapter_type=lsilogic,toolsversion=10240", "1000")]
    [TestCase("monolithicSparse", "zeroed_grain=on,hwversion=7", "3G")]
    [TestCase("monolithicSparse", "compat6=on,adapter_type=legacyESX", "0")]
    [TestCase("monolithicFlat", "adapter_type=buslogic", "100M")]
    [TestCase("monolithicFlat", "", "0")]
    [TestCase("twoGbMaxExtentSparse", "zeroed_grain=on", "5G")]
    [TestCase("twoGbMaxExtentFlat", "hwversion=10", "5G")]
    [TestCase("streamOptimized", "adapter_type=lsilogic", "100M")]
    public void Create_SameFilesAsQemu(string subformat, string options, string size)
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["img"]);
        Directory.CreateDirectory(dir["qemu"]);
        string list = "subformat=" + subformat + (options.Length > 0 ? "," + options : "");
        Assert.That(SizeParser.TryParse(size, out long bytes, out _), Is.True);
        DiskImage.Create(new CreateRequest(Path.Combine(dir["img"], "d.vmdk"), "vmdk")
        {
            Size = bytes,
            Options = new ImageOptions().Parse(list),
        });
        Tools.RunIn(dir["qemu"], "qemu-img", "create", "-q", "-f", "vmdk", "-o", list, "d.vmdk", size).Ok();

        var imgFiles = Directory.GetFiles(dir["img"]).Select(Path.GetFileName).Order().ToArray();
        var qemuFiles = Directory.GetFiles(dir["qemu"]).Select(Path.GetFileName).Order().ToArray();
        Assert.That(imgFiles, Is.EqualTo(qemuFiles));
        foreach (var name in imgFiles)
        {
            string a = Path.Combine(dir["img"], name!), b = Path.Combine(dir["qemu"], name!);
            // A standalone descriptor's length depends on the (unpadded) CID; its text is compared below.
            bool descriptorOnly = name == "d.vmdk" && subformat is not ("monolithicSparse" or "streamOptimized");
            if (!descriptorOnly) Assert.That(new FileInfo(a).Length, Is.EqualTo(new FileInfo(b).Length), name);
            if (new FileInfo(a).Length < 1 << 30 && File.ReadAllBytes(a) is { Length: >= 512 } ab && ab[0] == 'K')
            {
                var bb = File.ReadAllBytes(b);
                Assert.That(ab.AsSpan(0, 512).SequenceEqual(bb.AsSpan(0, 512)), Is.True, $"{name}: header");
                Assert.That(ab.AsSpan(21 * 512).SequenceEqual(bb.AsSpan(21 * 512)), Is.True, $"{name}: directories");
            }
        }
        Assert.That(VmdkTestImages.Descriptor(Path.Combine(dir["img"], "d.vmdk")),
            Is.EqualTo(VmdkTestImages.Descriptor(Path.Combine(dir["qemu"], "d.vmdk"))));
    }

    [Test]
    public void Create_WithParent_WritesHintAndParentCid()
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["sub"]);
        DiskImage.Create(new CreateRequest(dir["base.vmdk"], "vmdk") { Size = 16 << 20 });
        var options = new ImageOptions().Set("backing_file", "../base.vmdk").Set("backing_fmt", "vmdk");
        DiskImage.Create(new CreateRequest(Path.Combine(dir["sub"], "child.vmdk"), "vmdk") { Options = options });
        Tools.RunIn(dir["sub"], "qemu-img", "create", "-q", "-f", "vmdk", "-b", "../base.vmdk", "-F", "vmdk", "q.vmdk").Ok();

        string img = VmdkTestImages.Descriptor(Path.Combine(dir["sub"], "child.vmdk"));
        string qemu = VmdkTestImages.Descriptor(Path.Combine(dir["sub"], "q.vmdk"));
        Assert.That(img, Is.EqualTo(qemu.Replace("\"q.vmdk\"", "\"child.vmdk\"", StringComparison.Ordinal)));
        Assert.That(img, Does.Contain("parentFileNameHint=\"../base.vmdk\"\n# Extent description"));
        using var child = DiskImage.Open(Path.Combine(dir["sub"], "child.vmdk"));
        Assert.That(child.Backing, Is.Not.Null);
        Assert.That(child.BackingFormat, Is.EqualTo("vmdk"));
    }

    [TestCase("subformat=bogus", "invalid parameter value: bogus")]
    [TestCase("adapter_type=pvscsi", "invalid parameter value: pvscsi")]
    [TestCase("compat6=on,hwversion=7", "compat6 cannot be enabled with hwversion set")]
    [TestCase("subformat=monolithicFlat,zeroed_grain=on", "Flat image can't enable zeroed grain")]
    [TestCase("subformat=twoGbMaxExtentFlat,backing_file=b.vmdk,backing_fmt=vmdk", "Flat image can't have backing file")]
    [TestCase("backing_file=b.raw,backing_fmt=raw", "backing_file must be a vmdk image")]
    // qemu opens the backing file before the vmdk driver looks at it: only with -u does a raw file under
    // backing_fmt=vmdk reach the driver's own refusal.
    [TestCase("backing_file=b.raw,backing_fmt=vmdk", "Invalid backing file format: raw. Must be vmdk", true)]
    public void Create_BadOptions_FailWithQemuMessage(string list, string message, bool unsafeBacking = false)
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["b.raw"], new byte[4096]);
        DiskImage.Create(new CreateRequest(dir["b.vmdk"], "vmdk") { Size = 1 << 20 });
        var e = Assert.Catch<Exception>(() => DiskImage.Create(new CreateRequest(dir["n.vmdk"], "vmdk")
        {
            Size = 1 << 20,
            Options = new ImageOptions().Parse(list),
            UnsafeBacking = unsafeBacking,
        }));
        Assert.That(e!.Message, Is.EqualTo(message));
    }
}
