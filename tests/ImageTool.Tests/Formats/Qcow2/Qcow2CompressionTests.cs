using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Qcow2;

public class Qcow2CompressionTests
{
    private const int Cluster = 65536;

    /// <summary>A raw disk with text-like, random, zero and repeated clusters (compressible and not).</summary>
    private static byte[] MixedDisk(int clusters, int seed)
    {
        var rnd = new Random(seed);
        var data = new byte[clusters * Cluster];
        string[] words = ["alpha ", "beta ", "gamma ", "/usr/share/doc ", "qcow2 ", "\n", "0123456789 "];
        for (int c = 0; c < clusters; c++)
        {
            var span = data.AsSpan(c * Cluster, Cluster);
            switch (c % 5)
            {
                case 0: // text
                    for (int i = 0; i < span.Length;)
                        foreach (char ch in words[rnd.Next(words.Length)])
                            if (i < span.Length) span[i++] = (byte)ch;
                    break;
                case 1: rnd.NextBytes(span); break; // incompressible
                case 2: break; // zeros
                case 3: rnd.NextBytes(span[..(Cluster / 8)]); break; // mostly zeros
                default: span.Fill((byte)c); break;
            }
        }
        return data;
    }

    /// <summary>What convert -c does: compress on many threads, store in order, plain write when it does not shrink, skip zeros.</summary>
    internal static void CompressInto(string path, byte[] data, int threads, string options = "", bool qemuIdentical = false)
    {
        Qcow2InteropTests.Create(path, data.Length, options);
        using var image = Qcow2InteropTests.OpenRw(path);
        var writer = (Capabilities.ICompressedClusterWriter)image;
        int clusters = data.Length / Cluster;
        var stored = new byte[clusters * writer.MaxCompressedLength];
        var lengths = new int[clusters];
        Parallel.For(0, clusters, new ParallelOptions { MaxDegreeOfParallelism = threads },
            c => lengths[c] = writer.CompressCluster(data.AsSpan(c * Cluster, Cluster), stored.AsSpan(c * writer.MaxCompressedLength, writer.MaxCompressedLength), qemuIdentical));
        for (int c = 0; c < clusters; c++)
        {
            var cluster = data.AsSpan(c * Cluster, Cluster);
            if (!cluster.ContainsAnyExcept((byte)0)) continue;
            if (lengths[c] > 0) writer.WriteCompressedCluster((long)c * Cluster, stored.AsSpan(c * writer.MaxCompressedLength, lengths[c]));
            else image.Write((long)c * Cluster, cluster);
        }
        image.Flush();
    }

    [TestCase("")]
    [TestCase("compression_type=zstd")]
    public void WriteCompressed_QemuCheckCleanAndDataEqual(string options)
    {
        using var dir = new TempDir();
        byte[] data = MixedDisk(40, 1);
        File.WriteAllBytes(dir["in.raw"], data);
        CompressInto(dir["c.qcow2"], data, 4, options);
        Tools.QemuImg("check", dir["c.qcow2"]).Ok();
        using (var image = DiskImage.Open(dir["c.qcow2"]))
        {
            var report = ((ImageTool.Capabilities.ICheckable)image).Check(ImageTool.Check.CheckRepair.None, _ => { });
            Assert.That((report.Corruptions, report.Leaks, report.CompressedClusters), Is.EqualTo((0, 0, 24L)));
        }
        Tools.QemuImg("compare", "-f", "raw", "-F", "qcow2", dir["in.raw"], dir["c.qcow2"]).Ok();
        Assert.That(new FileInfo(dir["c.qcow2"]).Length % 512, Is.Zero, "file padded to a sector as qemu-img leaves it");
        var map = Tools.QemuImg("check", "--output=json", dir["c.qcow2"]).Ok().Stdout;
        Assert.That(map, Does.Contain("\"compressed-clusters\": 24"), "text, mostly-zero and filled clusters compressed");
    }

    [TestCase("")]
    [TestCase("compression_type=zstd")]
    public void WriteCompressed_SameBytesForOneAndManyThreads(string options)
    {
        using var dir = new TempDir();
        byte[] data = MixedDisk(30, 2);
        CompressInto(dir["one.qcow2"], data, 1, options);
        CompressInto(dir["many.qcow2"], data, 8, options);
        Assert.That(File.ReadAllBytes(dir["many.qcow2"]), Is.EqualTo(File.ReadAllBytes(dir["one.qcow2"])));
    }

    [TestCase("zlib")]
    [TestCase("zstd")]
    public void ConvertCompressed_SameBytesForOneAndManyThreads_AndSameAsQemuImgForZstd(string type)
    {
        using var dir = new TempDir();
        // 200 clusters: several batches in flight, whatever the thread count.
        File.WriteAllBytes(dir["in.raw"], MixedDisk(200, 4));
        foreach (int threads in new[] { 1, 3 })
        {
            ImageTool.Operations.ConvertOperation.Run([dir["in.raw"]], dir[$"t{threads}.qcow2"], new ImageTool.Operations.ConvertOptions
            {
                OutputFormat = "qcow2",
                OutputOptions = new ImageTool.Options.ImageOptions().Set("compression_type", type),
                Compress = true,
                Threads = threads,
            });
        }
        Assert.That(File.ReadAllBytes(dir["t3.qcow2"]), Is.EqualTo(File.ReadAllBytes(dir["t1.qcow2"])));
        Tools.QemuImg("compare", "-f", "raw", "-F", "qcow2", dir["in.raw"], dir["t1.qcow2"]).Ok();
        if (type != "zstd") return;
        // zstd goes through qemu-img's own libzstd: the whole file is qemu-img's, byte for byte.
        Tools.QemuImg("convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "compression_type=zstd", dir["in.raw"], dir["q.qcow2"]).Ok();
        Assert.That(File.ReadAllBytes(dir["t1.qcow2"]), Is.EqualTo(File.ReadAllBytes(dir["q.qcow2"])));
    }

    [Test]
    public void WriteCompressed_ZlibSizeMatchesQemuImgConvert()
    {
        using var dir = new TempDir();
        byte[] data = MixedDisk(40, 3);
        File.WriteAllBytes(dir["in.raw"], data);
        CompressInto(dir["img.qcow2"], data, 2, qemuIdentical: true);
        Tools.QemuImg("convert", "-c", "-f", "raw", "-O", "qcow2", dir["in.raw"], dir["q.qcow2"]).Ok();
        long mine = new FileInfo(dir["img.qcow2"]).Length, theirs = new FileInfo(dir["q.qcow2"]).Length;
        Assert.That(Math.Abs(mine - theirs), Is.LessThanOrEqualTo(theirs / 50), $"img {mine} vs qemu-img {theirs}");
    }

    [TestCase("")]
    [TestCase("-o compression_type=zstd")]
    public void Read_ImageCompressedByQemuImg_IsBitExact(string options)
    {
        using var dir = new TempDir();
        byte[] data = MixedDisk(25, 4);
        File.WriteAllBytes(dir["in.raw"], data);
        string[] o = options.Length == 0 ? [] : options.Split(' ');
        Tools.QemuImg(["convert", "-c", "-f", "raw", "-O", "qcow2", .. o, dir["in.raw"], dir["q.qcow2"]]).Ok();
        using var image = DiskImage.Open(dir["q.qcow2"]);
        var back = new byte[data.Length];
        image.Read(0, back);
        Assert.That(back, Is.EqualTo(data));
    }

    [Test]
    public void Write_OverCompressedCluster_KeepsRestOfCluster()
    {
        using var dir = new TempDir();
        byte[] data = MixedDisk(10, 5);
        File.WriteAllBytes(dir["in.raw"], data);
        Tools.QemuImg("convert", "-c", "-f", "raw", "-O", "qcow2", dir["in.raw"], dir["q.qcow2"]).Ok();
        using (var image = Qcow2InteropTests.OpenRw(dir["q.qcow2"]))
        {
            image.Write(100, [1, 2, 3]);
            image.Flush();
        }
        data[100] = 1; data[101] = 2; data[102] = 3;
        File.WriteAllBytes(dir["in.raw"], data);
        Tools.QemuImg("check", dir["q.qcow2"]).Ok();
        Tools.QemuImg("compare", "-f", "raw", "-F", "qcow2", dir["in.raw"], dir["q.qcow2"]).Ok();
    }

    [TestCase(0x4000_0000_00FF_0000UL, "points outside the image file")]
    [TestCase(0x4000_0000_0004_0000UL, "does not decompress")]
    public void Read_BadDescriptor_ThrowsCorrupt(ulong descriptor, string message)
    {
        using var dir = new TempDir();
        byte[] data = MixedDisk(1, 6);
        File.WriteAllBytes(dir["in.raw"], data);
        Tools.QemuImg("convert", "-c", "-f", "raw", "-O", "qcow2", dir["in.raw"], dir["q.qcow2"]).Ok();
        var (entryOffset, _) = L2EntryOffset(dir["q.qcow2"]);
        using (var fs = new FileStream(dir["q.qcow2"], FileMode.Open))
        {
            fs.Position = entryOffset;
            var b = new byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(b, descriptor);
            fs.Write(b);
        }
        using var image = DiskImage.Open(dir["q.qcow2"]);
        var e = Assert.Throws<ImageCorruptException>(() => image.Read(0, new byte[512]));
        Assert.That(e!.Message, Does.Contain(message));
    }

    private static (long Offset, ulong Entry) L2EntryOffset(string path)
    {
        byte[] f = File.ReadAllBytes(path);
        long l1 = System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(f.AsSpan(40));
        long l2 = (long)(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(f.AsSpan((int)l1)) & 0x00FFFFFFFFFFFE00UL);
        return (l2, System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(f.AsSpan((int)l2)));
    }
}
