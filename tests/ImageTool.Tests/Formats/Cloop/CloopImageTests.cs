using System.Buffers.Binary;
using ImageTool.Check;
using ImageTool.Operations;
using ImageTool.Tests.Support;
using static ImageTool.Tests.Formats.LegacyFormatSupport;

namespace ImageTool.Tests.Formats.Cloop;

public class CloopImageTests
{
    private static string CreateCompressedFs(TempDir dir, byte[] input, int blockSize, string level = "9")
    {
        File.WriteAllBytes(dir["in.bin"], input);
        Tools.Run("create_compressed_fs", "-q", "-B", blockSize.ToString(), "-L", level, dir["in.bin"], dir["in.cloop"]).Ok();
        return dir["in.cloop"];
    }

    private static byte[] Padded(byte[] input, int blockSize)
    {
        var padded = new byte[(input.Length + blockSize - 1) / blockSize * blockSize];
        input.CopyTo(padded, 0);
        return padded;
    }

    [TestCase(65536, "9")]
    [TestCase(131072, "9")]
    [TestCase(512, "9")]
    [TestCase(65536, "0")]
    [TestCase(65536, "-1")]
    public void Read_CreateCompressedFsImage_MatchesPaddedInput(int blockSize, string level)
    {
        using var dir = new TempDir();
        var input = MixedData(1_000_000, blockSize);
        string cloop = CreateCompressedFs(dir, input, blockSize, level);
        using var image = DiskImage.Open(cloop);
        Assert.That(image.Format.Name, Is.EqualTo("cloop"));
        Assert.That(ReadAll(image), Is.EqualTo(Padded(input, blockSize)));
        // Unaligned reads go through the block cache.
        var piece = new byte[1000];
        image.Read(blockSize - 500, piece);
        Assert.That(piece, Is.EqualTo(input.AsSpan(blockSize - 500, 1000).ToArray()));
    }

    [Test]
    public void Map_BlocksThatInflateToZeros_AreDataAsInQemu()
    {
        using var dir = new TempDir();
        var input = SeededData.Bytes(8 * 65536, 8);
        input.AsSpan(2 * 65536, 3 * 65536).Clear();
        string cloop = CreateCompressedFs(dir, input, 65536);
        using var image = DiskImage.Open(cloop);
        var map = new StringWriter();
        MapOperation.Write(image, map, json: true);
        Assert.That(map.ToString(), Is.EqualTo(Tools.QemuImg("map", "--output=json", cloop).Ok().Stdout));
    }

    [Test]
    public void Info_MatchesQemuImg()
    {
        using var dir = new TempDir();
        string cloop = CreateCompressedFs(dir, MixedData(700_000, 1), 65536);
        Assert.That(InfoHuman(cloop), Is.EqualTo(Tools.QemuImg("info", cloop).Ok().Stdout));
        Assert.That(InfoJson(cloop), Is.EqualTo(Tools.QemuImg("info", "--output=json", cloop).Ok().Stdout));
    }

    [TestCase(65536)]
    [TestCase(4096)]
    [TestCase(256 << 10)] // extract_compressed_fs divides by zero below 10 blocks
    public void Convert_ToCloop_QemuImgAndExtractCompressedFsReadItBack(int blockSize)
    {
        using var dir = new TempDir();
        var input = MixedData(3 << 20, 7);
        input.AsSpan(1 << 20, 512 << 10).Clear(); // a hole convert skips: the writer must fill it with zeros
        File.WriteAllBytes(dir["src.raw"], input);
        var options = new ConvertOptions { OutputFormat = "cloop", OutputOptions = new ImageTool.Options.ImageOptions().Set("block_size", blockSize.ToString()) };
        ConvertOperation.Run([dir["src.raw"]], dir["out.cloop"], options);

        Assert.That(DiskImage.Probe(dir["out.cloop"]), Is.EqualTo("cloop"));
        Tools.QemuImg("convert", "-f", "cloop", "-O", "raw", dir["out.cloop"], dir["qemu.raw"]).Ok();
        Assert.That(File.ReadAllBytes(dir["qemu.raw"]), Is.EqualTo(Padded(input, blockSize)));
        Tools.Run("extract_compressed_fs", dir["out.cloop"], dir["extract.raw"]).Ok();
        Assert.That(File.ReadAllBytes(dir["extract.raw"]), Is.EqualTo(Padded(input, blockSize)));
        using var image = DiskImage.Open(dir["out.cloop"]);
        var report = CheckOperation.Run(image, CheckRepair.None, _ => { });
        Assert.That(report.ExitCode, Is.Zero);
    }

    [Test]
    public void Write_SameDataTwice_GivesIdenticalFiles()
    {
        using var dir = new TempDir();
        var input = MixedData(2 << 20, 3);
        File.WriteAllBytes(dir["src.raw"], input);
        var options = new ConvertOptions { OutputFormat = "cloop", OutputOptions = new ImageTool.Options.ImageOptions().Set("block_size", "16k") };
        ConvertOperation.Run([dir["src.raw"]], dir["a.cloop"], options);
        ConvertOperation.Run([dir["src.raw"]], dir["b.cloop"], options with { OutputOptions = new ImageTool.Options.ImageOptions().Set("block_size", "16k") });
        Assert.That(File.ReadAllBytes(dir["a.cloop"]), Is.EqualTo(File.ReadAllBytes(dir["b.cloop"])));
    }

    [Test]
    public void Write_BehindCurrentBlock_IsRefused()
    {
        using var dir = new TempDir();
        DiskImage.Create(new CreateRequest(dir["w.cloop"], "cloop") { Size = 1 << 20 });
        using (var image = DiskImage.Open(dir["w.cloop"], new OpenOptions { ReadOnly = false }))
        {
            image.Write(200_000, new byte[1000]);
            Assert.Throws<IOException>(() => image.Write(100_000, new byte[10]));
        }
        using var done = DiskImage.Open(dir["w.cloop"]);
        Assert.That(ReadAll(done), Is.All.Zero);
    }

    [Test]
    public void Create_EmptyImage_IsReadableByQemuAsZeros()
    {
        using var dir = new TempDir();
        DiskImage.Create(new CreateRequest(dir["e.cloop"], "cloop") { Size = 300_000 });
        Tools.QemuImg("convert", "-f", "cloop", "-O", "raw", dir["e.cloop"], dir["e.raw"]).Ok();
        Assert.That(File.ReadAllBytes(dir["e.raw"]), Has.Length.EqualTo(5 * 65536).And.All.Zero);
    }

    [Test]
    public void Probe_OnlyTheExactV2Preamble_IsCloop()
    {
        using var dir = new TempDir();
        string cloop = CreateCompressedFs(dir, MixedData(100_000, 2), 65536);
        var bytes = File.ReadAllBytes(cloop);
        bytes[12] = (byte)'3'; // "#V3.0 Format"
        File.WriteAllBytes(dir["v3.cloop"], bytes);
        Assert.That(DiskImage.Probe(cloop), Is.EqualTo("cloop"));
        Assert.That(DiskImage.Probe(dir["v3.cloop"]), Is.EqualTo("raw"));
        Assert.That(Tools.QemuImg("info", dir["v3.cloop"]).Ok().Stdout, Does.Contain("file format: raw"));
        // The preamble is not checked when the format is given.
        using var image = DiskImage.Open(dir["v3.cloop"], new OpenOptions { Format = "cloop" });
        Assert.That(ReadAll(image).AsSpan(0, 100_000).ToArray(), Is.EqualTo(MixedData(100_000, 2)));
    }

    private static string Patched(TempDir dir, Action<byte[]> patch)
    {
        string cloop = CreateCompressedFs(dir, MixedData(300_000, 4), 65536);
        var bytes = File.ReadAllBytes(cloop);
        patch(bytes);
        File.WriteAllBytes(dir["bad.cloop"], bytes);
        return dir["bad.cloop"];
    }

    [TestCase(1000u)]
    [TestCase(0u)]
    [TestCase(128u << 20)]
    public void Open_BadBlockSize_FailsLikeQemu(uint blockSize)
    {
        using var dir = new TempDir();
        string bad = Patched(dir, b => BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(128), blockSize));
        Assert.That(OpenError(bad), Is.EqualTo(QemuError(Tools.QemuImg("info", bad))));
    }

    [TestCase(600_000_000u)]
    [TestCase(50_000_000u)]
    public void Open_AbsurdBlockCount_FailsWithoutHugeAllocation(uint blocks)
    {
        using var dir = new TempDir();
        string bad = Patched(dir, b => BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(132), blocks));
        long before = GC.GetTotalAllocatedBytes();
        string message = OpenError(bad);
        Assert.That(GC.GetTotalAllocatedBytes() - before, Is.LessThan(16 << 20));
        if (blocks > 536870911) Assert.That(message, Is.EqualTo(QemuError(Tools.QemuImg("info", bad))));
        else Assert.That(message, Does.Contain("does not fit in the file"));
    }

    [Test]
    public void Open_OffsetsNotIncreasing_FailsLikeQemu()
    {
        using var dir = new TempDir();
        string bad = Patched(dir, b => BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(136 + 2 * 8), 10));
        Assert.That(OpenError(bad), Is.EqualTo(QemuError(Tools.QemuImg("info", bad))));
    }

    [Test]
    public void ReadAndCheck_BlockPastEndOfFile_ReportCorruption()
    {
        using var dir = new TempDir();
        string bad = Patched(dir, b => { });
        var bytes = File.ReadAllBytes(bad);
        File.WriteAllBytes(bad, bytes.AsSpan(0, bytes.Length - 100).ToArray());
        using var image = DiskImage.Open(bad);
        var buffer = new byte[65536];
        image.Read(0, buffer);
        Assert.Throws<ImageCorruptException>(() => image.Read(4 * 65536, buffer));
        Assert.Throws<ImageCorruptException>(() => image.Read(0, new byte[5 * 65536]));
        var lines = new List<string>();
        var result = CheckOperation.Run(image, CheckRepair.None, lines.Add);
        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(lines, Has.Some.Contains("block 4"));
    }

    [Test]
    public void Check_BlockThatDoesNotInflate_IsCorruption()
    {
        using var dir = new TempDir();
        string bad = Patched(dir, b =>
        {
            long start = (long)BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan(136 + 8));
            b[start + 10] ^= 0xFF;
        });
        using var image = DiskImage.Open(bad);
        var lines = new List<string>();
        Assert.That(CheckOperation.Run(image, CheckRepair.None, lines.Add).ExitCode, Is.EqualTo(2));
        Assert.That(lines, Has.Some.Contains("block 1"));
    }
}
