using ImageTool.Codecs;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Codecs;

public class RawDeflaterTests
{
    private const int Cluster = 65536;

    /// <summary>Text-like, compressible data with repeats farther apart than 4 KiB and some noise.</summary>
    private static byte[] Compressible(int seed)
    {
        var rnd = new Random(seed);
        var data = new byte[Cluster];
        string[] words = ["qemu ", "image ", "cluster ", "refcount ", "snapshot ", "L2 table ", "\n", "0x", "deflate "];
        int i = 0;
        while (i < data.Length)
        {
            foreach (char c in words[rnd.Next(words.Length)])
                if (i < data.Length) data[i++] = (byte)c;
            if (rnd.Next(8) == 0 && i < data.Length) data[i++] = (byte)rnd.Next(256);
        }
        return data;
    }

    [Test]
    public void Compress_ThenInflate_ReturnsOriginal()
    {
        byte[] data = Compressible(1);
        using var deflater = new RawDeflater();
        var buffer = new byte[Cluster - 1];
        int n = deflater.Compress(data, buffer);
        Assert.That(n, Is.InRange(1, Cluster / 2));
        var back = new byte[Cluster];
        Assert.That(RawInflater.TryDecompress(buffer.AsSpan(0, n), back), Is.True);
        Assert.That(back, Is.EqualTo(data));
    }

    [Test]
    public void Compress_RandomData_DoesNotFitInClusterMinusOne()
    {
        using var deflater = new RawDeflater();
        Assert.That(deflater.Compress(SeededData.Bytes(Cluster, 7), new byte[Cluster - 1]), Is.EqualTo(-1));
    }

    [Test]
    public void Compress_ReusedStream_GivesSameBytesAsFreshStream()
    {
        var a = new byte[Cluster];
        var b = new byte[Cluster];
        using var reused = new RawDeflater();
        reused.Compress(Compressible(3), a);
        int n1 = reused.Compress(Compressible(4), a);
        using var fresh = new RawDeflater();
        int n2 = fresh.Compress(Compressible(4), b);
        Assert.That(a.AsSpan(0, n1).ToArray(), Is.EqualTo(b.AsSpan(0, n2).ToArray()));
    }

    [Test]
    public void Compress_MatchesClusterStoredByQemuImgConvert()
    {
        using var dir = new TempDir();
        byte[] data = Compressible(5);
        File.WriteAllBytes(dir["in.raw"], data);
        Tools.QemuImg("convert", "-c", "-f", "raw", "-O", "qcow2", dir["in.raw"], dir["out.qcow2"]).Ok();
        var (entry, stored) = QemuClusterDump.Read(dir["out.qcow2"], 0);
        Assert.That(entry >> 62, Is.EqualTo(1UL), "qemu stored the cluster compressed");

        var mine = new byte[Cluster - 1];
        int n = RawDeflater.ForCurrentThread.Compress(data, mine);
        Assert.That(stored.AsSpan(0, n).ToArray(), Is.EqualTo(mine.AsSpan(0, n).ToArray()));
        Assert.That(stored.Length - n, Is.LessThan(512), "the descriptor covers exactly our stream's sectors");
    }

    [Test]
    public void Compress_IsThreadSafePerThread_SameOutputOnAllThreads()
    {
        byte[] data = Compressible(6);
        var expected = new byte[Cluster];
        int n = new RawDeflater().Compress(data, expected);
        var results = new byte[8][];
        Parallel.For(0, results.Length, i =>
        {
            var buf = new byte[Cluster];
            int m = RawDeflater.ForCurrentThread.Compress(data, buf);
            results[i] = buf.AsSpan(0, m).ToArray();
        });
        Assert.That(results, Has.All.EqualTo(expected.AsSpan(0, n).ToArray()));
    }
}
