using ImageTool.Codecs;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Codecs;

public class ZstdCodecTests
{
    private const int Cluster = 65536;

    private static byte[] Compressible()
    {
        var data = new byte[Cluster];
        var rnd = new Random(11);
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(rnd.Next(16) == 0 ? rnd.Next(256) : 'a' + i % 13);
        return data;
    }

    [Test]
    public void Compress_ThenDecompress_ReturnsOriginal()
    {
        byte[] data = Compressible();
        var buf = new byte[Cluster - 1];
        int n = ZstdCodec.Compress(data, buf);
        Assert.That(n, Is.InRange(1, Cluster / 2));
        Assert.That(buf.AsSpan(0, 4).ToArray(), Is.EqualTo(new byte[] { 0x28, 0xB5, 0x2F, 0xFD }));
        var back = new byte[Cluster];
        Assert.That(ZstdCodec.TryDecompress(buf.AsSpan(0, n), back), Is.True);
        Assert.That(back, Is.EqualTo(data));
    }

    [Test]
    public void Compress_RandomData_DoesNotFit()
    {
        Assert.That(ZstdCodec.Compress(SeededData.Bytes(Cluster, 3), new byte[Cluster - 1]), Is.EqualTo(-1));
    }

    [Test]
    public void TryDecompress_TrailingBytes_AreIgnored()
    {
        byte[] data = Compressible();
        var buf = new byte[Cluster];
        int n = ZstdCodec.Compress(data, buf);
        byte[] withTail = [.. buf.AsSpan(0, n), .. SeededData.Bytes(1000, 2)];
        var back = new byte[Cluster];
        Assert.That(ZstdCodec.TryDecompress(withTail, back), Is.True);
        Assert.That(back, Is.EqualTo(data));
    }

    [TestCase(2)]
    [TestCase(5)]
    public void TryDecompress_DamagedOrShort_Fails(int cut)
    {
        byte[] data = Compressible();
        var buf = new byte[Cluster];
        int n = ZstdCodec.Compress(data, buf);
        Assert.That(ZstdCodec.TryDecompress(buf.AsSpan(0, n / cut), new byte[Cluster]), Is.False);
    }

    [Test]
    public void TryDecompress_FrameLongerThanCluster_Fails()
    {
        byte[] data = Compressible();
        var buf = new byte[Cluster];
        int n = ZstdCodec.Compress(data, buf);
        Assert.That(ZstdCodec.TryDecompress(buf.AsSpan(0, n), new byte[Cluster / 2]), Is.False);
    }

    [Test]
    public void TryDecompress_ClusterStoredByQemuImg_ReturnsOriginal()
    {
        using var dir = new TempDir();
        byte[] data = Compressible();
        File.WriteAllBytes(dir["in.raw"], data);
        Tools.QemuImg("convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "compression_type=zstd", dir["in.raw"], dir["out.qcow2"]).Ok();
        var (entry, stored) = QemuClusterDump.Read(dir["out.qcow2"], 0);
        Assert.That(entry >> 62, Is.EqualTo(1UL));
        var back = new byte[Cluster];
        Assert.That(ZstdCodec.TryDecompress(stored, back), Is.True);
        Assert.That(back, Is.EqualTo(data));

        // The same library as qemu-img's (the system libzstd) at the same level: the same frame, byte for byte.
        var mine = new byte[Cluster - 1];
        int n = ZstdCodec.Compress(data, mine);
        Assert.That(n, Is.GreaterThan(0).And.LessThanOrEqualTo(stored.Length));
        Assert.That(mine.AsSpan(0, n).ToArray(), Is.EqualTo(stored.AsSpan(0, n).ToArray()));
    }
}
