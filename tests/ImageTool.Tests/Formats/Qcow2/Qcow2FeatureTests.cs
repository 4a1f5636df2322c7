using System.Buffers.Binary;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Qcow2;

/// <summary>Dirty bit, lazy refcounts, autoclear bits, unknown extensions and backing defaults as qemu handles them.</summary>
public class Qcow2FeatureTests
{
    [Test]
    public void OpenReadWrite_DirtyLazyRefcountImage_IsRepairedAndMarkedClean()
    {
        using var dir = new TempDir();
        string path = dir["lz.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", path, "16M").Ok();
        Tools.QemuIo("-c", "write -P 5 0 256k", "-c", "abort", path);
        Assert.That(Tools.QemuImg("check", path).ExitCode, Is.EqualTo(2), "qemu left refcounts behind");
        using (var ro = DiskImage.Open(path))
        {
            Assert.That(ro.GetInfo().DirtyFlag, Is.True);
            var buffer = new byte[256 << 10];
            ro.Read(0, buffer);
            Assert.That(buffer, Is.All.EqualTo(5));
        }
        using (var rw = Qcow2InteropTests.OpenRw(path))
            rw.Write(1 << 20, new byte[] { 7 });
        Tools.QemuImg("check", path).Ok();
        using var again = DiskImage.Open(path);
        Assert.That(again.GetInfo().DirtyFlag, Is.False);
    }

    [Test]
    public void Write_LazyRefcounts_DirtyWhileOpenCleanAfterClose()
    {
        using var dir = new TempDir();
        string path = dir["l.qcow2"];
        Qcow2InteropTests.Create(path, 4 << 20, "lazy_refcounts=on");
        using (var image = Qcow2InteropTests.OpenRw(path))
        {
            image.Write(0, new byte[4096]);
            Assert.That(Tools.QemuImg("info", "-U", path).Ok().Stdout, Does.Contain("cleanly shut down: no"));
        }
        Assert.That(Tools.QemuImg("info", path).Ok().Stdout, Does.Not.Contain("cleanly shut down"));
        Tools.QemuImg("check", path).Ok();
    }

    [Test]
    public void OpenReadWrite_UnknownAutoclearBitsCleared_UnknownExtensionPreserved()
    {
        using var dir = new TempDir();
        string path = dir["a.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", path, "16M").Ok();
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(88), 0x21); // bitmaps (not maintained) + unknown bit 5
        // An unknown extension in place of the end marker after the feature table (0x70 + 8 + 0x180).
        int at = 0x70 + 8 + 0x180;
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(at), 0x12345678);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(at + 4), 3);
        "abc"u8.CopyTo(bytes.AsSpan(at + 8));
        File.WriteAllBytes(path, bytes);
        using (var image = Qcow2InteropTests.OpenRw(path)) image.Write(0, new byte[] { 1 });
        bytes = File.ReadAllBytes(path);
        Assert.That(BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(88)), Is.Zero);
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(at)), Is.EqualTo(0x12345678));
        Assert.That(bytes.AsSpan(at + 8, 3).ToArray(), Is.EqualTo("abc"u8.ToArray()));
        Tools.QemuImg("check", path).Ok();
    }

    [Test]
    public void Create_RelativeBackingInSubdirectory_SizeFromBaseAndReadsThrough()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["sub"]);
        Tools.QemuImg("create", "-q", "-f", "qcow2", dir["base.qcow2"], "3M").Ok();
        Tools.QemuIo("-c", "write -P 0x42 1M 1M", dir["base.qcow2"]).Ok();
        Qcow2InteropTests.Create(dir["sub/ov.qcow2"], null, "", "../base.qcow2", "qcow2");
        using var image = DiskImage.Open(dir["sub/ov.qcow2"]);
        Assert.That(image.Length, Is.EqualTo(3L << 20));
        Assert.That(image.BackingFileName, Is.EqualTo("../base.qcow2"));
        var buffer = new byte[1 << 20];
        image.Read(1 << 20, buffer);
        Assert.That(buffer, Is.All.EqualTo(0x42));
        var status = BackingChain.GetStatus(image, 1 << 20, 1 << 20);
        Assert.That((status.Depth, status.State), Is.EqualTo((1, BlockState.Data)));
        Assert.That(Tools.QemuImg("info", dir["sub/ov.qcow2"]).Ok().Stdout,
            Does.Contain($"backing file: ../base.qcow2 (actual path: {dir["sub"]}/../base.qcow2)"));
    }

    [Test]
    public void Open_CompressedCluster_ReadFailsClearly_StatusStillWorks()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["s.raw"], Enumerable.Repeat((byte)'a', 1 << 20).ToArray());
        Tools.QemuImg("convert", "-c", "-O", "qcow2", dir["s.raw"], dir["c.qcow2"]).Ok();
        using var image = DiskImage.Open(dir["c.qcow2"]);
        Assert.That(image.GetBlockStatus(0, image.Length).State, Is.EqualTo(BlockState.Data));
        var buffer = new byte[512];
        image.Read(0, buffer); // compressed clusters are supported now (qcow2-adv)
        Assert.That(buffer, Is.All.EqualTo((byte)'a'));
    }

    [TestCase("bitmap")]
    [TestCase("dirty")]
    [TestCase("corrupt")]
    [TestCase("v2-backing")]
    [TestCase("lazy")]
    public void Info_SameAsQemu_HumanAndJson(string kind)
    {
        using var dir = new TempDir();
        string path = dir["i.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", dir["b.raw"], "1M").Ok();
        switch (kind)
        {
            case "bitmap":
                Tools.QemuImg("create", "-q", "-f", "qcow2", path, "16M").Ok();
                Tools.QemuImg("bitmap", "--add", "-g", "128k", path, "bm1").Ok();
                Tools.QemuImg("bitmap", "--add", "--disable", path, "bm2").Ok();
                Tools.QemuIo("-c", "write 0 64k", path).Ok();
                break;
            case "dirty":
                Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", path, "16M").Ok();
                Tools.QemuIo("-c", "write 0 64k", "-c", "abort", path);
                break;
            case "corrupt":
                Tools.QemuImg("create", "-q", "-f", "qcow2", path, "16M").Ok();
                var bytes = File.ReadAllBytes(path);
                bytes[79] |= 2;
                File.WriteAllBytes(path, bytes);
                break;
            case "v2-backing":
                Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-b", "b.raw", "-F", "raw", path).Ok();
                break;
            case "lazy":
                Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on,refcount_bits=2,cluster_size=1k", path, "5G").Ok();
                break;
        }
        foreach (bool json in new[] { false, true })
        {
            string[] output = json ? ["--output=json"] : [];
            var qemu = Tools.QemuImg(["info", .. output, path]).Ok().Stdout;
            using var image = DiskImage.Open(path, new OpenOptions { OpenBacking = false });
            var infos = new[] { ImageTool.Operations.InfoOperation.Describe(image) };
            string mine = json ? ImageTool.Info.ImageInfoFormatter.Json(infos, false) : ImageTool.Info.ImageInfoFormatter.Human(infos);
            Assert.That(mine, Is.EqualTo(qemu));
        }
        if (kind == "bitmap") Tools.QemuImg("check", path).Ok();
    }

    [Test]
    public void Write_ImageWithInternalSnapshot_CopiesSharedClustersAndKeepsSnapshot()
    {
        using var dir = new TempDir();
        string path = dir["s.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", path, "8M").Ok();
        Tools.QemuIo("-c", "write -P 1 0 1M", path).Ok();
        Tools.QemuImg("snapshot", "-c", "snap", path).Ok();
        using (var image = Qcow2InteropTests.OpenRw(path))
        {
            image.Write(4096, Enumerable.Repeat((byte)2, 70000).ToArray());
            image.WriteZeroes(512 << 10, 128 << 10, true);
        }
        Tools.QemuImg("check", path).Ok();
        var r = Tools.QemuIo("-c", "read -P 1 0 4k", "-c", "read -P 2 4k 70000", "-c", "read -P 1 74096 450192",
            "-c", "read -P 0 512k 128k", "-c", "read -P 1 640k 384k", path).Ok();
        Assert.That(r.Stdout, Does.Not.Contain("failed"));
        Tools.QemuImg("convert", "-l", "snap", "-O", "raw", path, dir["snap.raw"]).Ok();
        var snap = File.ReadAllBytes(dir["snap.raw"]);
        Assert.That(snap.AsSpan(0, 1 << 20).IndexOfAnyExcept((byte)1), Is.EqualTo(-1));
    }
}
