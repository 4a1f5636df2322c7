using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Raw;

public class RawImageTests
{
    [Test]
    public void Create_Sparse_AllocatesOnlyFirstBlockAndReadsZeros()
    {
        using var dir = new TempDir();
        DiskImage.Create(new CreateRequest(dir["a.raw"], "raw") { Size = 64 << 20 });
        using var image = DiskImage.Open(dir["a.raw"]);
        Assert.That(image.Length, Is.EqualTo(64L << 20));
        Assert.That(image.GetInfo().ActualSize, Is.EqualTo(4096));
        var buffer = new byte[4096];
        image.Read(32 << 20, buffer);
        Assert.That(buffer, Is.All.Zero);
    }

    [Test]
    public void BlockStatus_ReportsHolesAndData()
    {
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["s.raw"], 16 << 20, 1, (1 << 20, 65536), (8 << 20, 4096));
        using var image = DiskImage.Open(dir["s.raw"], new OpenOptions { Format = "raw" });
        var first = image.GetBlockStatus(0, image.Length);
        Assert.That(first.State, Is.EqualTo(BlockState.Zero));
        Assert.That(first.Length, Is.EqualTo(1 << 20));
        var data = image.GetBlockStatus(1 << 20, image.Length - (1 << 20));
        Assert.That(data.State, Is.EqualTo(BlockState.Data));
        Assert.That(data.Length, Is.EqualTo(65536));
    }

    [Test]
    public void FileCutShortWhileOpen_ReadsAndStatusFailInsteadOfShrinkingTheDisk()
    {
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["c.raw"], 8 << 20, 3, (0, 8 << 20));
        using var image = DiskImage.Open(dir["c.raw"], new OpenOptions { Format = "raw" });
        using (var f = new FileStream(dir["c.raw"], FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) f.SetLength(1 << 20);

        Assert.That(image.Length, Is.EqualTo(8L << 20), "the length is the one seen at open, as qemu's");
        var head = new byte[4096];
        image.Read(0, head);
        Assert.That(head, Is.Not.All.Zero);
        var read = Assert.Throws<IOException>(() => image.Read(4 << 20, new byte[4096]));
        Assert.That(read!.Message, Is.EqualTo("the source shrank to 1048576 bytes while it was read"));
        var straddling = Assert.Throws<IOException>(() => image.Read((1 << 20) - 512, new byte[4096]));
        Assert.That(straddling!.Message, Is.EqualTo(read.Message));
        Assert.Throws<IOException>(() => image.GetBlockStatus(2 << 20, 1 << 20));
    }

    [Test]
    public void UnalignedTail_WriteInsideTheLastSectorGrowsTheFileAndReadsBack()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["t.raw"], new byte[12122]);
        using (var image = DiskImage.Open(dir["t.raw"], new OpenOptions { Format = "raw", ReadOnly = false }))
        {
            Assert.That(image.Length, Is.EqualTo(12288));
            image.Write(12200, new byte[] { 1, 2, 3 });
            var tail = new byte[88];
            image.Read(12200, tail);
            Assert.That(tail[..4], Is.EqualTo(new byte[] { 1, 2, 3, 0 }));
        }
        Assert.That(new FileInfo(dir["t.raw"]).Length, Is.EqualTo(12203));
    }

    [Test]
    public void WriteZeroes_MayDeallocate_PunchesHole()
    {
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["p.raw"], 4 << 20, 2, (0, 4 << 20));
        using (var image = DiskImage.Open(dir["p.raw"], new OpenOptions { Format = "raw", ReadOnly = false }))
        {
            image.WriteZeroes(1 << 20, 1 << 20, mayDeallocate: true);
            var buffer = new byte[1 << 20];
            image.Read(1 << 20, buffer);
            Assert.That(buffer, Is.All.Zero);
            Assert.That(image.GetBlockStatus(1 << 20, 1 << 20).State, Is.EqualTo(BlockState.Zero));
        }
        Assert.That(new FileInfo(dir["p.raw"]).Length, Is.EqualTo(4L << 20));
    }

    [Test]
    public void Length_OddFileSize_RoundsUpToSector()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["odd.raw"], new byte[1000]);
        using var image = DiskImage.Open(dir["odd.raw"]);
        Assert.That(image.Length, Is.EqualTo(1024));
    }

    [Test]
    public void Write_ProbedRawBlockZeroThatWouldProbeOtherwise_IsRefused()
    {
        // Only meaningful once another format probes; a qcow2 magic is the classic case.
        using var dir = new TempDir();
        File.WriteAllBytes(dir["g.raw"], new byte[4096]);
        using var image = DiskImage.Open(dir["g.raw"], new OpenOptions { ReadOnly = false });
        byte[] ordinary = [1, 2, 3, 4];
        image.Write(0, ordinary);
        var back = new byte[4];
        image.Read(0, back);
        Assert.That(back, Is.EqualTo(ordinary));
    }

    [Test]
    public void Stream_OverImage_ReadsAndSeeks()
    {
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["st.raw"], 1 << 20, 3, (4096, 8192));
        var expected = File.ReadAllBytes(dir["st.raw"]);
        using var image = DiskImage.Open(dir["st.raw"]);
        using var stream = new BlockDeviceStream(image);
        stream.Seek(4000, SeekOrigin.Begin);
        var buffer = new byte[10000];
        stream.ReadExactly(buffer);
        Assert.That(buffer, Is.EqualTo(expected.AsSpan(4000, 10000).ToArray()));
    }
}
