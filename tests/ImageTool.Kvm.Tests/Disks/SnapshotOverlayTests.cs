using ImageTool.Kvm.Disks;

namespace ImageTool.Kvm.Tests.Disks;

public class SnapshotOverlayTests
{
    private static (string Path, IImage Image) ReadOnlyImage(TempDir dir, byte fill, long size = 64 << 10)
    {
        string path = dir["base.raw"];
        File.WriteAllBytes(path, Enumerable.Repeat(fill, (int)size).ToArray());
        return (path, DiskImage.Open(path, new OpenOptions { Format = "raw", ReadOnly = true }));
    }

    [Test]
    public void Write_UnalignedAcrossBlocks_ReadsBackMergedWithTheImage()
    {
        using var dir = new TempDir();
        var (_, image) = ReadOnlyImage(dir, 0x11);
        using var _ = image;
        using var overlay = new SnapshotOverlay(image);

        overlay.Write(4000, Enumerable.Repeat((byte)0x22, 200).ToArray());
        var back = new byte[8192];
        overlay.Read(0, back);

        Assert.That(back[..4000], Is.All.EqualTo(0x11));
        Assert.That(back[4000..4200], Is.All.EqualTo(0x22));
        Assert.That(back[4200..], Is.All.EqualTo(0x11));
    }

    [Test]
    public void Write_NeverReachesTheImageFile()
    {
        using var dir = new TempDir();
        var (path, image) = ReadOnlyImage(dir, 0x11);
        using (image)
        using (var overlay = new SnapshotOverlay(image))
        {
            overlay.Write(0, new byte[4096]);
            overlay.WriteZeroes(8192, 10000, mayDeallocate: true);
        }

        Assert.That(File.ReadAllBytes(path), Is.All.EqualTo(0x11));
    }

    [Test]
    public void GetBlockStatus_WrittenBlocksAreData_OthersComeFromTheImage()
    {
        using var dir = new TempDir();
        var (_, image) = ReadOnlyImage(dir, 0x11);
        using var _ = image;
        using var overlay = new SnapshotOverlay(image);
        overlay.Write(8192, new byte[4096]);

        var first = overlay.GetBlockStatus(0, 64 << 10);
        var written = overlay.GetBlockStatus(8192, (64 << 10) - 8192);

        Assert.That(first.Length, Is.EqualTo(8192));
        Assert.That(written, Is.EqualTo(new BlockStatus(8192, 4096, BlockState.Data)));
    }

    [Test]
    public void Read_PastTheEnd_Throws()
    {
        using var dir = new TempDir();
        var (_, image) = ReadOnlyImage(dir, 0x11);
        using var _ = image;
        using var overlay = new SnapshotOverlay(image);

        Assert.Throws<ArgumentOutOfRangeException>(() => overlay.Read(64 << 10, new byte[1]));
    }
}
