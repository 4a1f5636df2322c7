using ImageTool.Formats.Qcow2;
using ImageTool.Info;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Qcow2;

public class Qcow2SnapshotTests
{
    private const long Size = 4L << 20;

    private static Qcow2Image OpenRw(string path) => (Qcow2Image)Qcow2InteropTests.OpenRw(path);

    private static void WriteRaw(string path, byte[] data) => File.WriteAllBytes(path, data);

    private static void AssertQemuSees(TempDir dir, string img, byte[] expected)
    {
        Tools.QemuImg("check", img).Ok();
        using (var image = DiskImage.Open(img))
        {
            var lines = new List<string>();
            var report = ((ImageTool.Capabilities.ICheckable)image).Check(ImageTool.Check.CheckRepair.None, lines.Add);
            Assert.That((report.Corruptions, report.Leaks, report.CheckErrors), Is.EqualTo((0, 0, 0)), string.Join('\n', lines));
        }
        WriteRaw(dir["expected.raw"], expected);
        Tools.QemuImg("compare", "-f", "raw", "-F", "qcow2", dir["expected.raw"], img).Ok();
    }

    private static void Write(IBlockDevice image, byte[] model, long offset, int length, int seed)
    {
        byte[] data = SeededData.Bytes(length, seed);
        image.Write(offset, data);
        data.CopyTo(model, offset);
    }

    [Test]
    public void CreateWriteApply_RestoresSnapshotData_QemuCheckClean()
    {
        using var dir = new TempDir();
        string img = dir["s.qcow2"];
        Qcow2InteropTests.Create(img, Size);
        var model = new byte[Size];
        using (var image = OpenRw(img))
        {
            Write(image, model, 0, 200_000, 1);
            image.CreateSnapshot("first", DateTimeOffset.UtcNow);
        }
        byte[] atFirst = (byte[])model.Clone();
        Tools.QemuImg("check", img).Ok();
        using (var image = OpenRw(img))
        {
            Write(image, model, 100_000, 300_000, 2);
            image.WriteZeroes(1 << 20, 1 << 20, mayDeallocate: true);
            image.Flush();
        }
        AssertQemuSees(dir, img, model);
        using (var image = OpenRw(img)) image.ApplySnapshot("first");
        AssertQemuSees(dir, img, atFirst);
        var list = Tools.QemuImg("snapshot", "-l", img).Ok().Stdout;
        Assert.That(list, Does.Contain("1         first "));
    }

    [Test]
    public void SnapshotMadeByQemuImg_ApplyAndDeleteByImg_QemuCheckClean()
    {
        using var dir = new TempDir();
        string img = dir["q.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", img, "4M").Ok();
        Tools.QemuIo("-c", "write -P 0x11 0 128k", img).Ok();
        Tools.QemuImg("snapshot", "-c", "one", img).Ok();
        Tools.QemuIo("-c", "write -P 0x22 64k 128k", "-c", "write -c -P 0x33 1M 64k", img).Ok();
        Tools.QemuImg("snapshot", "-c", "two", img).Ok();
        Tools.QemuIo("-c", "write -P 0x44 0 64k", img).Ok();

        var atOne = new byte[Size];
        atOne.AsSpan(0, 128 << 10).Fill(0x11);
        var atTwo = (byte[])atOne.Clone();
        atTwo.AsSpan(64 << 10, 128 << 10).Fill(0x22);
        atTwo.AsSpan(1 << 20, 64 << 10).Fill(0x33);

        using (var image = OpenRw(img))
        {
            Assert.That(image.Snapshots.Select(s => s.Name), Is.EqualTo(new[] { "one", "two" }));
            image.ApplySnapshot("2");
        }
        AssertQemuSees(dir, img, atTwo);
        using (var image = OpenRw(img)) image.DeleteSnapshot("two");
        AssertQemuSees(dir, img, atTwo);
        using (var image = OpenRw(img)) image.ApplySnapshot("one");
        AssertQemuSees(dir, img, atOne);
        using (var image = OpenRw(img)) image.DeleteSnapshot("one");
        AssertQemuSees(dir, img, atOne);
        Assert.That(Tools.QemuImg("snapshot", "-l", img).Ok().Stdout, Is.Empty);
    }

    [Test]
    public void Info_WithSnapshots_MatchesQemuImgJson()
    {
        using var dir = new TempDir();
        string img = dir["i.qcow2"];
        Qcow2InteropTests.Create(img, Size);
        using (var image = OpenRw(img))
        {
            image.CreateSnapshot("a", DateTimeOffset.UtcNow);
            image.CreateSnapshot("a", DateTimeOffset.UtcNow);
        }
        Tools.QemuImg("snapshot", "-c", "from-qemu", img).Ok();
        using var opened = DiskImage.Open(img, new OpenOptions { OpenBacking = false });
        string mine = ImageInfoFormatter.Json([global::ImageTool.Operations.InfoOperation.Describe(opened)], false);
        Assert.That(mine, Is.EqualTo(Tools.QemuImg("info", "--output=json", img).Ok().Stdout));
        Assert.That(opened.GetInfo().Snapshots.Select(s => s.Id), Is.EqualTo(new[] { "1", "2", "3" }));
    }

    [TestCase(256u, null)]
    [TestCase(65537u, "Snapshot table too large")]
    public void Open_PatchedSnapshotCount_BehavesAsQemu(uint count, string? error)
    {
        using var dir = new TempDir();
        string img = dir["p.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", img, "1M").Ok();
        Tools.QemuImg("snapshot", "-c", "s", img).Ok();
        using (var fs = new FileStream(img, FileMode.Open))
        {
            var b = new byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(b, count);
            fs.Position = 60;
            fs.Write(b);
        }
        var qemu = Tools.QemuImg("info", "--output=json", img);
        if (error == null)
        {
            using var opened = DiskImage.Open(img, new OpenOptions { OpenBacking = false });
            Assert.That(ImageInfoFormatter.Json([global::ImageTool.Operations.InfoOperation.Describe(opened)], false), Is.EqualTo(qemu.Ok().Stdout));
            return;
        }
        Assert.That(qemu.Stderr, Does.Contain(error));
        var e = Assert.Catch<ImageFormatException>(() => DiskImage.Open(img));
        Assert.That(e!.Message, Does.EndWith(error));
    }

    /// <summary>iotests 080 "Hitting snapshot table size limit": a table of 65536 entries (past the end of the file).</summary>
    [Test]
    public void Create_TableAtSnapshotLimit_FailsLikeQemuAndChangesNothing()
    {
        using var dir = new TempDir();
        foreach (string name in new[] { "q.qcow2", "img.qcow2" })
        {
            Tools.QemuImg("create", "-q", "-f", "qcow2", dir[name], "64M").Ok();
            using var fs = new FileStream(dir[name], FileMode.Open);
            var b = new byte[12];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(b, 65536); // nb_snapshots
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(4), 16 << 20); // snapshots_offset
            fs.Position = 60;
            fs.Write(b);
        }
        var qemu = Tools.QemuImg("snapshot", "-c", "test", dir["q.qcow2"]);
        Assert.That((qemu.ExitCode, qemu.Stderr), Is.EqualTo((1, "qemu-img: Could not create snapshot 'test': -27 (File too large)\n")));
        byte[] before = File.ReadAllBytes(dir["img.qcow2"]);
        var warnings = new List<string>();
        using (var image = DiskImage.Open(dir["img.qcow2"], new OpenOptions { ReadOnly = false, Warning = w => warnings.Add(w.Message) }))
        {
            var e = Assert.Throws<ImageFormatException>(() => global::ImageTool.Operations.SnapshotOperation.Create(image, "test", DateTimeOffset.UnixEpoch));
            Assert.That(e!.Message, Is.EqualTo("Could not create snapshot 'test': -27 (File too large)"));
        }
        Assert.That(warnings, Is.Empty);
        Assert.That(File.ReadAllBytes(dir["img.qcow2"]), Is.EqualTo(before));
        Tools.QemuIo("-c", "read 0 512", dir["img.qcow2"]).Ok();
    }

    private static string QemuMonitor(string img, string commands)
    {
        Tools.Require("qemu-system-x86_64");
        string script = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(img)!, "monitor.txt");
        File.WriteAllText(script, commands + "\nquit\n");
        return Tools.Run("sh", "-c",
            $"qemu-system-x86_64 -M none -nodefaults -display none -drive if=none,file={img},id=d0,format=qcow2 -monitor stdio < {script}").Ok().Stdout;
    }

    [Test]
    public void VmStateSnapshotMadeByQemu_SurvivesImgSnapshotOperations()
    {
        using var dir = new TempDir();
        string img = dir["vm.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", img, "4M").Ok();
        Tools.QemuIo("-c", "write -P 0x42 0 64k", img).Ok();
        QemuMonitor(img, "savevm vmsnap");
        Tools.QemuIo("-c", "write -P 0x43 0 64k", img).Ok();
        using (var opened = DiskImage.Open(img, new OpenOptions { OpenBacking = false }))
        {
            Assert.That(opened.GetInfo().Snapshots[0].VmStateSize, Is.GreaterThan(0));
            Assert.That(ImageInfoFormatter.Json([global::ImageTool.Operations.InfoOperation.Describe(opened)], false),
                Is.EqualTo(Tools.QemuImg("info", "--output=json", img).Ok().Stdout));
        }
        using (var image = OpenRw(img))
        {
            image.CreateSnapshot("disk-only", DateTimeOffset.UtcNow);
            image.DeleteSnapshot("disk-only");
            image.ApplySnapshot("vmsnap");
        }
        Tools.QemuImg("check", img).Ok();
        Tools.QemuIo("-c", "read -P 0x42 0 64k", img).Ok();
        string output = QemuMonitor(img, "loadvm vmsnap");
        Assert.That(output, Does.Not.Contain("Error").And.Not.Contain("error"));
        Tools.QemuImg("check", img).Ok();
    }

    [Test]
    public void Delete_UnknownName_ThrowsAndChangesNothing()
    {
        using var dir = new TempDir();
        string img = dir["d.qcow2"];
        Qcow2InteropTests.Create(img, Size);
        using (var image = OpenRw(img)) image.CreateSnapshot("x", DateTimeOffset.UtcNow);
        byte[] before = File.ReadAllBytes(img);
        using (var image = OpenRw(img))
        {
            var e = Assert.Throws<ImageFormatException>(() => image.DeleteSnapshot("1"));
            Assert.That(e!.Message, Is.EqualTo("snapshot not found"));
            Assert.Throws<ImageFormatException>(() => image.ApplySnapshot("nope"));
        }
        Assert.That(File.ReadAllBytes(img), Is.EqualTo(before));
    }

    [Test]
    public void LoadSnapshotForReading_ReadsSnapshotState()
    {
        using var dir = new TempDir();
        string img = dir["r.qcow2"];
        Qcow2InteropTests.Create(img, Size);
        var model = new byte[Size];
        using (var image = OpenRw(img))
        {
            Write(image, model, 4096, 70_000, 3);
            image.CreateSnapshot("s", DateTimeOffset.UtcNow);
            Write(image, model, 0, 100_000, 4);
        }
        using var ro = (Qcow2Image)DiskImage.Open(img);
        var expected = new byte[Size];
        SeededData.Bytes(70_000, 3).CopyTo(expected, 4096);
        ro.LoadSnapshotForReading(null, "s");
        var back = new byte[Size];
        ro.Read(0, back);
        Assert.That(back, Is.EqualTo(expected));
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void RandomSequence_MatchesModel_QemuCheckCleanThroughout(int seed)
    {
        using var dir = new TempDir();
        string img = dir["m.qcow2"];
        Qcow2InteropTests.Create(img, Size, seed == 3 ? "cluster_size=4k" : "");
        var rnd = new Random(seed);
        var model = new byte[Size];
        var snaps = new SnapshotModel();
        for (int step = 0; step < 14; step++)
        {
            using (var image = OpenRw(img))
            {
                int op = rnd.Next(6);
                if (op <= 1 || snaps.Count == 0 && op >= 3)
                {
                    Write(image, model, rnd.NextInt64(Size - 200_000), rnd.Next(1, 200_000), rnd.Next());
                    image.Flush();
                }
                else if (op == 2)
                {
                    snaps.Create(image, model);
                }
                else if (op == 3 || op == 4)
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

    /// <summary>qemu-img info and check of an image, with its file name taken out.</summary>
    private static string QemuView(string img)
    {
        string name = System.IO.Path.GetFileName(img);
        string info = Tools.QemuImg("info", img).Ok().Stdout.Replace(name, "X", StringComparison.Ordinal);
        var check = Tools.QemuImg("check", img);
        return info + check.Stdout + check.Stderr + check.ExitCode;
    }

    [TestCase("big", "small")] // shrink: the current state past 2M goes, refcount blocks and file tail with it
    [TestCase("small", "big")] // grow: the L1 table grows first
    [TestCase("big", "big")]
    public void Apply_SnapshotOfOtherDiskSize_ResizesAsQemuDoes(string first, string second)
    {
        using var dir = new TempDir();
        string src = dir["src.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", src, "2M").Ok();
        Tools.QemuIo("-c", "write -P 0x11 0 2M", src).Ok();
        Tools.QemuImg("snapshot", "-c", "small", src).Ok();
        Tools.QemuImg("resize", "-q", src, "64M").Ok();
        Tools.QemuIo("-c", "write -P 0x22 1M 20M", "-c", "write -P 0x33 40M 24M", src).Ok();
        Tools.QemuImg("snapshot", "-c", "big", src).Ok();
        Tools.QemuIo("-c", "write -P 0x44 30M 34M", src).Ok();
        Tools.QemuImg("resize", "-q", "--shrink", src, "48M").Ok();

        string q = dir["q.qcow2"], mine = dir["i.qcow2"];
        File.Copy(src, q);
        File.Copy(src, mine);
        foreach (string sn in new[] { first, second })
        {
            Tools.QemuImg("snapshot", "-a", sn, q).Ok();
            using (var image = OpenRw(mine)) image.ApplySnapshot(sn);
            Assert.That(QemuView(mine), Is.EqualTo(QemuView(q)), $"after applying {sn}");
            Tools.QemuImg("compare", q, mine).Ok();
            Assert.That(new FileInfo(mine).Length, Is.EqualTo(new FileInfo(q).Length));
        }
        using (var image = OpenRw(mine)) image.DeleteSnapshot("big");
        Tools.QemuImg("snapshot", "-d", "big", q).Ok();
        Assert.That(QemuView(mine), Is.EqualTo(QemuView(q)));
    }

    [Test]
    public void Resize_V2ImageWithSnapshots_RefusedAsQemu()
    {
        using var dir = new TempDir();
        string img = dir["v2.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", "compat=0.10", img, "4M").Ok();
        Tools.QemuImg("snapshot", "-c", "s", img).Ok();
        Assert.That(Tools.QemuImg("resize", img, "8M").Stderr, Does.Contain("Can't resize a v2 image which has snapshots"));
        byte[] before = File.ReadAllBytes(img);
        using (var image = OpenRw(img))
        {
            var e = Assert.Catch<ImageFormatException>(() => image.Resize(8 << 20, "off"));
            Assert.That(e!.Message, Is.EqualTo("Can't resize a v2 image which has snapshots"));
        }
        Assert.That(File.ReadAllBytes(img), Is.EqualTo(before));
    }
}
