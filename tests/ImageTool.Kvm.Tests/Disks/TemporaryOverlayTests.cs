using ImageTool.Kvm.Disks;

namespace ImageTool.Kvm.Tests.Disks;

public class TemporaryOverlayTests
{
    private static (string Path, IImage Image) ReadOnlyImage(TempDir dir, byte fill, long size = 1 << 20)
    {
        string path = dir["base.raw"];
        File.WriteAllBytes(path, Enumerable.Repeat(fill, (int)size).ToArray());
        return (path, DiskImage.Open(path, new OpenOptions { Format = "raw", ReadOnly = true }));
    }

    [Test]
    public void Write_UnalignedAcrossClusters_ReadsBackMergedWithTheImage()
    {
        using var dir = new TempDir();
        var (_, image) = ReadOnlyImage(dir, 0x11);
        using var overlay = TemporaryOverlay.Create(image);

        overlay.Write(65500, Enumerable.Repeat((byte)0x22, 200).ToArray());
        var back = new byte[131072];
        overlay.Read(0, back);

        Assert.That(back[..65500], Is.All.EqualTo(0x11));
        Assert.That(back[65500..65700], Is.All.EqualTo(0x22));
        Assert.That(back[65700..], Is.All.EqualTo(0x11));
    }

    [Test]
    public void Write_NeverReachesTheImageFile_AndLeavesNoTemporaryFile()
    {
        using var dir = new TempDir();
        var (path, image) = ReadOnlyImage(dir, 0x11);
        var before = Directory.GetFiles(Path.GetTempPath(), "img-snapshot-*");
        using (var overlay = TemporaryOverlay.Create(image))
        {
            Assert.That(overlay.Format.Name, Is.EqualTo("qcow2"));
            Assert.That(Directory.GetFiles(Path.GetTempPath(), "img-snapshot-*"), Is.EquivalentTo(before), "unlinked while open");
            overlay.Write(0, new byte[4096]);
            overlay.WriteZeroes(8192, 10000, mayDeallocate: true);
            overlay.Flush();
        }

        Assert.That(File.ReadAllBytes(path), Is.All.EqualTo(0x11));
    }

    [Test]
    public void GetBlockStatus_WrittenClustersAreData_OthersComeFromTheImage()
    {
        using var dir = new TempDir();
        var (_, image) = ReadOnlyImage(dir, 0x11);
        using var overlay = TemporaryOverlay.Create(image);
        overlay.Write(131072, new byte[4096]);

        var first = overlay.GetBlockStatus(0, 1 << 20);
        var written = overlay.GetBlockStatus(131072, (1 << 20) - 131072);

        Assert.That(first, Is.EqualTo(new BlockStatus(0, 131072, BlockState.Unallocated)));
        Assert.That(written.State, Is.EqualTo(BlockState.Data));
        Assert.That(written.Length, Is.EqualTo(65536));
    }
}
