using ImageTool.Capabilities;
using ImageTool.Formats.Qcow2;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Qcow2;

/// <summary>
/// Compressed streams share host clusters, one reference each: a host cluster whose refcount is at the width's
/// maximum (1 for refcount_bits=1, 3 for 2, ...) takes no further stream, as qemu's qcow2_alloc_bytes (issue 22).
/// </summary>
public class Qcow2CompressedRefcountTests
{
    /// <summary>One cluster of one of four kinds: a filled byte, repeated text, mostly zeros with some noise, or random.</summary>
    private static byte[] ClusterData(int size, Random rng)
    {
        var data = new byte[size];
        // Mostly tiny streams, so that enough of them share one host cluster to reach 255 references.
        switch (rng.Next(8))
        {
            case < 4: Array.Fill(data, (byte)rng.Next(1, 256)); break;
            case < 6:
                var words = "alpha beta gamma /usr/lib qcow2 refcount \n"u8;
                for (int i = 0; i < size; i++) data[i] = words[i % words.Length];
                break;
            case 6: rng.NextBytes(data.AsSpan(0, size / 256)); break;
            default: rng.NextBytes(data); break;
        }
        return data;
    }

    // Small clusters and highly compressible data pack many streams per host cluster: widths 1, 2, 4 and 8 reach
    // their maxima (1, 3, 15, 255); 16, 32 and 64 cannot, and must simply keep working.
    [TestCase(1, 16384, 1)]
    [TestCase(2, 4096, 2)]
    [TestCase(4, 8192, 3)]
    [TestCase(8, 65536, 4)]
    [TestCase(16, 16384, 5)]
    [TestCase(32, 4096, 6)]
    [TestCase(64, 16384, 7)]
    public void RandomCompressedWrites_EveryRefcountWidth_QemuCheckCleanAndCompareEqual(int refcountBits, int cluster, int seed)
    {
        using var dir = new TempDir();
        int clusters = Math.Max(320, (4 << 20) / cluster);
        long size = (long)clusters * cluster;
        var rng = new Random(seed);
        var model = new byte[size];
        string path = dir["m.qcow2"];
        Qcow2InteropTests.Create(path, size, $"cluster_size={cluster},refcount_bits={refcountBits}");
        var image = Qcow2InteropTests.OpenRw(path);
        try
        {
            // A first pass in order, as convert -c writes, then random rewrites, plain writes, zeroes and reopens.
            for (int c = 0; c < clusters; c++) WriteCompressed(image, model, c, cluster, rng);
            for (int step = 0; step < 400; step++)
            {
                int op = rng.Next(10);
                if (op < 6) WriteCompressed(image, model, rng.Next(clusters), cluster, rng);
                else if (op < 8)
                {
                    long offset = rng.NextInt64(size);
                    int length = (int)Math.Min(size - offset, rng.Next(1, 3 * cluster));
                    var data = SeededData.Bytes(length, rng.Next());
                    image.Write(offset, data);
                    data.CopyTo(model, offset);
                }
                else if (op < 9)
                {
                    long offset = rng.NextInt64(size);
                    int length = (int)Math.Min(size - offset, rng.Next(1, 3 * cluster));
                    image.WriteZeroes(offset, length, rng.Next(2) == 0);
                    Array.Clear(model, (int)offset, length);
                }
                else
                {
                    image.Dispose();
                    image = Qcow2InteropTests.OpenRw(path);
                }
            }
        }
        finally { image.Dispose(); }

        Tools.QemuImg("check", path).Ok();
        File.WriteAllBytes(dir["model.raw"], model);
        Tools.QemuImg("compare", "-f", "qcow2", "-F", "raw", path, dir["model.raw"]).Ok();
        var info = Tools.QemuImg("check", "--output=json", path).Ok().Stdout;
        Assert.That(info, Does.Not.Contain("\"compressed-clusters\": 0,"), "some clusters were stored compressed");
    }

    private static void WriteCompressed(IImage image, byte[] model, long index, int cluster, Random rng)
    {
        var writer = (ICompressedClusterWriter)image;
        var data = ClusterData(cluster, rng);
        var compressed = new byte[writer.MaxCompressedLength];
        int n = writer.CompressCluster(data, compressed);
        if (n > 0) writer.WriteCompressedCluster(index * cluster, compressed.AsSpan(0, n));
        else image.Write(index * cluster, data);
        data.CopyTo(model, index * cluster);
    }

    /// <summary>The reproduction: convert -c -n of 4 MiB of mixed data into refcount_bits=1, 16 KiB clusters.</summary>
    [Test]
    public void ConvertCompressed_IntoRefcountBits1_SameClusterCountAsQemuImg()
    {
        using var dir = new TempDir();
        const int cluster = 16384;
        var rng = new Random(22);
        var data = new byte[4 << 20];
        for (int c = 0; c < data.Length / cluster; c++)
        {
            if (c % 4 != 0) ClusterData(cluster, rng).CopyTo(data, c * cluster);
        }
        File.WriteAllBytes(dir["in.raw"], data);
        foreach (string name in new[] { "img.qcow2", "qemu.qcow2" })
        {
            Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", "refcount_bits=1,cluster_size=16384", dir[name], "4M").Ok();
        }
        ImageTool.Operations.ConvertOperation.Run([dir["in.raw"]], dir["img.qcow2"], new ImageTool.Operations.ConvertOptions
        {
            OutputFormat = "qcow2",
            Compress = true,
            SkipCreate = true,
        });
        Tools.QemuImg("convert", "-c", "-n", "-f", "raw", "-O", "qcow2", dir["in.raw"], dir["qemu.qcow2"]).Ok();
        Tools.QemuImg("check", dir["img.qcow2"]).Ok();
        Tools.QemuImg("compare", "-f", "raw", "-F", "qcow2", dir["in.raw"], dir["img.qcow2"]).Ok();
        // One host cluster per stream, as qemu-img: the same number of clusters in use.
        string Allocated(string name) => Tools.QemuImg("check", dir[name]).Ok().Stdout.Split('\n').First(l => l.Contains("allocated", StringComparison.Ordinal));
        Assert.That(Allocated("img.qcow2"), Is.EqualTo(Allocated("qemu.qcow2")));
    }

    /// <summary>
    /// snapshot -c would push refcounts past the maximum (refcount_bits=1 and 2): qemu fails with EINVAL after writing
    /// the snapshot's L1 copy, which stays leaked; img the same way: the same check report, the same data.
    /// </summary>
    [TestCase(1)]
    [TestCase(2)]
    public void CreateSnapshot_RefcountAtMaximum_RefusedLeavingWhatQemuLeaves(int refcountBits)
    {
        using var dir = new TempDir();
        string path = dir["s.qcow2"];
        Tools.QemuImg("create", "-q", "-f", "qcow2", "-o", $"refcount_bits={refcountBits},cluster_size=16384", path, "4M").Ok();
        Tools.QemuIo("-c", "write -P 1 0 64k", path).Ok();
        // refcount_bits=2 holds 3: two snapshots fit, the third would make 4.
        for (int i = 1; i < (1 << refcountBits) - 1; i++)
        {
            using var image = (Qcow2Image)Qcow2InteropTests.OpenRw(path);
            image.CreateSnapshot($"s{i}", DateTimeOffset.UtcNow);
        }
        byte[] before = File.ReadAllBytes(path);
        using (var image = (Qcow2Image)Qcow2InteropTests.OpenRw(path))
        {
            var e = Assert.Throws<ImageFormatException>(() => image.CreateSnapshot("over", DateTimeOffset.UtcNow));
            Assert.That(e!.Message, Is.EqualTo("-22 (Invalid argument)"));
        }
        File.WriteAllBytes(dir["q.qcow2"], before);
        var qemu = Tools.QemuImg("snapshot", "-c", "over", dir["q.qcow2"]);
        Assert.That(qemu.ExitCode, Is.EqualTo(1));
        Assert.That(qemu.Stderr, Does.Contain("Could not create snapshot 'over': -22 (Invalid argument)"));
        var imgCheck = Tools.QemuImg("check", path);
        var qemuCheck = Tools.QemuImg("check", dir["q.qcow2"]);
        Assert.That(imgCheck.Stdout, Is.EqualTo(qemuCheck.Stdout));
        Assert.That(imgCheck.ExitCode, Is.EqualTo(qemuCheck.ExitCode));
        Tools.QemuImg("compare", "-f", "qcow2", "-F", "qcow2", dir["q.qcow2"], path).Ok();
        Assert.That(File.ReadAllBytes(path).Length, Is.EqualTo(File.ReadAllBytes(dir["q.qcow2"]).Length));
    }
}
