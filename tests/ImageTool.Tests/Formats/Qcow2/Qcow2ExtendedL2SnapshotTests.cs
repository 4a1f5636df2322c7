using ImageTool.Formats.Qcow2;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Qcow2;

/// <summary>Internal snapshots of extended-L2 images: shared subclustered clusters are copied on write as qemu does.</summary>
public class Qcow2ExtendedL2SnapshotTests
{
    private static Qcow2Image OpenRw(string path) => (Qcow2Image)Qcow2InteropTests.OpenRw(path);

    private static void AssertQemuSees(TempDir dir, string img, byte[] expected)
    {
        Tools.QemuImg("check", img).Ok();
        Assert.That(Qcow2ExtendedL2Tests.ImgCheck(img).ExitCode, Is.Zero, Qcow2ExtendedL2Tests.ImgCheck(img).Output);
        File.WriteAllBytes(dir["expected.raw"], expected);
        Tools.QemuImg("compare", "-f", "raw", "-F", "qcow2", dir["expected.raw"], img).Ok();
    }

    [Test]
    public void Write_SharedPartlyAllocatedClusters_SameBytesAsQemuIo()
    {
        using var dir = new TempDir();
        string src = dir["src.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", "extended_l2=on", src, "4M").Ok();
        // Cluster 0: subclusters 2-5 allocated; cluster 1: one subcluster; cluster 3: zero subclusters only (no host cluster).
        Tools.QemuIo("-c", "write -P 0x11 4k 8k", "-c", "write -P 0x12 100k 3k", "-c", "write -z 200k 10k", src).Ok();
        Tools.QemuImg("snapshot", "-c", "s1", src).Ok();
        string q = dir["q.qcow2"], mine = dir["i.qcow2"];
        File.Copy(src, q);
        File.Copy(src, mine);
        (long Offset, int Length, byte Fill)[] writes =
            [(10 << 10, 1024, 0x21), (70 << 10, 1024, 0x22), (130 << 10, 1024, 0x23), (199 << 10, 4096, 0x24), (1 << 20, 70 << 10, 0x25)];
        Tools.QemuIo([.. writes.SelectMany(w => new[] { "-c", $"write -P 0x{w.Fill:x2} {w.Offset} {w.Length}" }), q]).Ok();
        using (var image = OpenRw(mine))
        {
            foreach (var (offset, length, fill) in writes) image.Write(offset, Enumerable.Repeat(fill, length).ToArray());
        }
        Assert.That(File.ReadAllBytes(mine), Is.EqualTo(File.ReadAllBytes(q)));
        Tools.QemuImg("check", mine).Ok();
    }

    [TestCase("extended_l2=on", false, 1)]
    [TestCase("extended_l2=on,cluster_size=16k", true, 2)]
    [TestCase("extended_l2=on,cluster_size=128k,lazy_refcounts=on", true, 3)]
    [TestCase("extended_l2=on,cluster_size=32k,refcount_bits=4", false, 4)]
    public void RandomSequenceWithSnapshots_MatchesModel_QemuCheckCleanThroughout(string options, bool withBacking, int seed)
    {
        using var dir = new TempDir();
        const int size = 3 << 20;
        var rnd = new Random(seed);
        var model = new byte[size];
        string? backing = null;
        if (withBacking)
        {
            backing = dir["base.raw"];
            model = SeededData.Bytes(size, seed + 500);
            File.WriteAllBytes(backing, model);
        }
        string img = dir["m.qcow2"];
        Qcow2InteropTests.Create(img, size, options, backing, backing == null ? null : "raw");
        var snaps = new SnapshotModel();
        for (int step = 0; step < 24; step++)
        {
            using (var image = OpenRw(img))
            {
                image.AttachBacking(backing == null ? null : DiskImage.Open(backing, new OpenOptions { Format = "raw" }));
                int op = rnd.Next(8);
                if (op <= 3 || snaps.Count == 0 && op >= 5)
                {
                    // Several small unaligned writes and zero-writes, so that shared clusters are split subcluster-wise.
                    for (int n = 0; n < 6; n++)
                    {
                        int length = rnd.Next(4) == 0 ? rnd.Next(1, 150_000) : rnd.Next(1, 5000);
                        int offset = rnd.Next(size - length);
                        ModelWrites.Apply(image, model, offset, length, zero: rnd.Next(4) == 0, mayDeallocate: rnd.Next(2) == 0, rnd.Next());
                    }
                }
                else if (op == 4)
                {
                    snaps.Create(image, model);
                }
                else if (op <= 6)
                {
                    model = snaps.ApplyAny(image, rnd);
                }
                else
                {
                    snaps.DeleteAny(image, rnd);
                }
            }
            Tools.QemuImg("check", img).Ok();
        }
        AssertQemuSees(dir, img, model);
        foreach (var (name, data) in snaps.Saved)
        {
            using (var image = OpenRw(img)) image.ApplySnapshot(name);
            AssertQemuSees(dir, img, data);
        }
    }

    [Test]
    public void SnapshotMadeByImg_QemuAppliesAndWritesIt_ImgReadsBack()
    {
        using var dir = new TempDir();
        string img = dir["x.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=32k", img, "2M").Ok();
        Tools.QemuIo("-c", "write -P 0x31 1000 5000", "-c", "write -z 40k 2k", img).Ok();
        using (var image = OpenRw(img)) image.CreateSnapshot("by-img", DateTimeOffset.UtcNow);
        Tools.QemuIo("-c", "write -P 0x32 3000 100", "-c", "write -P 0x33 39k 2k", img).Ok();
        Tools.QemuImg("check", img).Ok();
        var after = Qcow2ExtendedL2Tests.ImgRead(img);
        Tools.QemuImg("snapshot", "-a", "by-img", img).Ok();
        var atSnapshot = new byte[2 << 20];
        atSnapshot.AsSpan(1000, 5000).Fill(0x31);
        Assert.That(Qcow2ExtendedL2Tests.ImgRead(img), Is.EqualTo(atSnapshot));
        Assert.That(after.AsSpan(3000, 100).ToArray(), Is.All.EqualTo(0x32));
        using (var image = OpenRw(img)) image.DeleteSnapshot("by-img");
        AssertQemuSees(dir, img, atSnapshot);
    }
}
