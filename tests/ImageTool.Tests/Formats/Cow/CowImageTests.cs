using System.Buffers.Binary;
using System.Text;
using ImageTool.Check;
using ImageTool.Operations;
using ImageTool.Tests.Support;
using static ImageTool.Tests.Formats.LegacyFormatSupport;

namespace ImageTool.Tests.Formats.Cow;

public class CowImageTests
{
    private static readonly DateTime BaseTime = new(2021, 5, 6, 7, 8, 9, DateTimeKind.Utc);
    private static readonly uint BaseSeconds = (uint)new DateTimeOffset(BaseTime).ToUnixTimeSeconds();

    private static byte[] MakeBase(TempDir dir, int size = 1_000_000, string name = "base.raw")
    {
        var data = SeededData.Bytes(size, 11);
        File.WriteAllBytes(dir[name], data);
        File.SetLastWriteTimeUtc(dir[name], BaseTime);
        return data;
    }

    private static void CreateCow(TempDir dir, string cow = "c.cow", string backing = "base.raw") =>
        DiskImage.Create(new CreateRequest(dir[cow], "cow") { Options = new ImageTool.Options.ImageOptions().Set("backing_file", backing) });

    [Test]
    public void Create_WithBacking_WritesUmlVersion3Layout()
    {
        using var dir = new TempDir();
        MakeBase(dir);
        CreateCow(dir);
        var spec = UmlCowSpec.Parse(File.ReadAllBytes(dir["c.cow"]));
        Assert.Multiple(() =>
        {
            Assert.That(spec.Mtime, Is.EqualTo(BaseSeconds));
            Assert.That(spec.Size, Is.EqualTo(1_000_000UL));
            Assert.That(spec.SectorSize, Is.EqualTo(512u));
            Assert.That(spec.Alignment, Is.EqualTo(4096u));
            Assert.That(spec.CowFormat, Is.Zero);
            Assert.That(spec.BackingFile, Is.EqualTo(dir["base.raw"]), "stored absolute");
            // uml_mkcow for a 1,000,000-byte base: bitmap at 8192 (245 bytes), data at 12288, file 1,012,288 bytes.
            Assert.That((spec.BitmapOffset, spec.BitmapLength, spec.DataOffset), Is.EqualTo((8192L, 245L, 12288L)));
            Assert.That(spec.File, Has.Length.EqualTo(1_012_288));
            Assert.That(spec.SetSectors(), Is.Empty);
        });
        using var image = DiskImage.Open(dir["c.cow"]);
        Assert.That(image.Length, Is.EqualTo(999_936), "whole sectors of the header size, as UML's ubd");
        Assert.That(ReadAll(image), Is.EqualTo(File.ReadAllBytes(dir["base.raw"]).AsSpan(0, 999_936).ToArray()));
    }

    // Found by tools/fuzz: a 64 GiB disk has a 16 MiB bitmap, which block status walked one sector at a time.
    [Test]
    public void BlockStatus_OverA64GiBDisk_FollowsTheBitmapAcrossByteBoundaries()
    {
        using var dir = new TempDir();
        using (var file = File.Create(dir["base.raw"])) file.SetLength(64L << 30);
        File.SetLastWriteTimeUtc(dir["base.raw"], BaseTime);
        CreateCow(dir);
        long lastSector = (64L << 30) / 512 - 1;
        long[] written = [0, 7, 8, 9, 63, 64, 65, 1 << 20, lastSector];
        using (var image = DiskImage.Open(dir["c.cow"], new OpenOptions { ReadOnly = false }))
            foreach (long sector in written) image.Write(sector * 512, SeededData.Bytes(512, (int)(sector % 251)));

        var expected = new List<(long Offset, long Length, bool Data)>();
        long at = 0;
        foreach (long sector in written)
        {
            if (sector * 512 > at) expected.Add((at, sector * 512 - at, false));
            if (expected.Count > 0 && expected[^1].Data && expected[^1].Offset + expected[^1].Length == sector * 512)
                expected[^1] = (expected[^1].Offset, expected[^1].Length + 512, true);
            else expected.Add((sector * 512, 512, true));
            at = sector * 512 + 512;
        }
        using var opened = DiskImage.Open(dir["c.cow"]);
        var runs = new List<(long Offset, long Length, bool Data)>();
        for (long offset = 0; offset < opened.Length;)
        {
            var status = opened.GetBlockStatus(offset, opened.Length - offset);
            runs.Add((status.Offset, status.Length, status.IsData));
            offset = status.End;
        }
        Assert.That(runs, Is.EqualTo(expected));
        Assert.That(opened.GetBlockStatus(66 * 512, 100 * 512).Length, Is.EqualTo(100 * 512), "a run stops at the limit asked for");
    }

    [Test]
    public void Write_StoresOnlyChangedSectorsAndSetsTheirBitsLsbFirst()
    {
        using var dir = new TempDir();
        var model = MakeBase(dir);
        CreateCow(dir);
        var writes = new (long Offset, byte[] Data)[]
        {
            (3 * 512, SeededData.Bytes(512, 1)),
            (9 * 512 + 10, SeededData.Bytes(100, 2)),  // partial: the rest of sector 9 comes from the base
            (16 * 512, SeededData.Bytes(4096, 3)),
            (999_936 - 512, SeededData.Bytes(512, 4)), // the last whole sector
        };
        using (var image = DiskImage.Open(dir["c.cow"], new OpenOptions { ReadOnly = false }))
        {
            foreach (var (offset, data) in writes)
            {
                image.Write(offset, data);
                data.CopyTo(model, offset);
            }
        }
        var spec = UmlCowSpec.Parse(File.ReadAllBytes(dir["c.cow"]));
        long last = 999_936 / 512 - 1;
        Assert.That(spec.SetSectors(), Is.EqualTo(new long[] { 3, 9, 16, 17, 18, 19, 20, 21, 22, 23, last }));
        Assert.That(spec.File[8192], Is.EqualTo(0b0000_1000), "sector 3 is bit 3 of byte 0");
        Assert.That(spec.Merge(File.ReadAllBytes(dir["base.raw"])), Is.EqualTo(model));
        Assert.That(File.GetLastWriteTimeUtc(dir["base.raw"]), Is.EqualTo(BaseTime), "the base is never written");
        using var reopened = DiskImage.Open(dir["c.cow"]);
        Assert.That(ReadAll(reopened), Is.EqualTo(model.AsSpan(0, 999_936).ToArray()));
        Assert.That(reopened.GetInfo().ActualSize, Is.LessThan(64 << 10), "unchanged sectors stay holes");
        var status = reopened.GetBlockStatus(16 * 512, 64 * 512);
        Assert.That((status.State, status.Length, status.HostOffset), Is.EqualTo((BlockState.Data, 8 * 512L, (long?)(12288 + 16 * 512))));
    }

    /// <summary>Hand-built old headers per cow_user.c; sectors 1 and 5 are stored in the COW file.</summary>
    [TestCase("v1")]
    [TestCase("v2")]
    [TestCase("v3-broken")]
    public void Read_OlderHeaderLayouts_MergeLikeUml(string layout)
    {
        using var dir = new TempDir();
        var model = MakeBase(dir, 64 << 10);
        const uint size = 64 << 10;
        byte[] path = Encoding.UTF8.GetBytes(dir["base.raw"]);
        byte[] head;
        long bitmapOffset;
        switch (layout)
        {
            case "v1": // host-endian (x86: little), path 8:256, mtime 264, size 268, sectorsize 276; bitmap at 280
                head = new byte[280];
                BinaryPrimitives.WriteUInt32LittleEndian(head, 0x4F4F4F4D);
                BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(4), 1);
                path.CopyTo(head, 8);
                BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(264), BaseSeconds);
                BinaryPrimitives.WriteUInt64LittleEndian(head.AsSpan(268), size);
                BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(276), 512);
                bitmapOffset = 280;
                break;
            case "v2": // big-endian, path 8:4096, mtime 4104, size 4108, sectorsize 4116; bitmap at 4120
                head = new byte[4120];
                BinaryPrimitives.WriteUInt32BigEndian(head, 0x4F4F4F4D);
                BinaryPrimitives.WriteUInt32BigEndian(head.AsSpan(4), 2);
                path.CopyTo(head, 8);
                BinaryPrimitives.WriteUInt32BigEndian(head.AsSpan(4104), BaseSeconds);
                BinaryPrimitives.WriteUInt64BigEndian(head.AsSpan(4108), size);
                BinaryPrimitives.WriteUInt32BigEndian(head.AsSpan(4116), 512);
                bitmapOffset = 4120;
                break;
            default: // unpacked 64-bit v3: mtime 8:8, size 16, sectorsize 24, alignment 28, cow_format 32, path 36
                head = new byte[4136];
                BinaryPrimitives.WriteUInt32BigEndian(head, 0x4F4F4F4D);
                BinaryPrimitives.WriteUInt32BigEndian(head.AsSpan(4), 3);
                BinaryPrimitives.WriteUInt32BigEndian(head.AsSpan(8), BaseSeconds);
                BinaryPrimitives.WriteUInt64BigEndian(head.AsSpan(16), size);
                BinaryPrimitives.WriteUInt32BigEndian(head.AsSpan(24), 512);
                BinaryPrimitives.WriteUInt32BigEndian(head.AsSpan(28), 4096);
                path.CopyTo(head, 36);
                bitmapOffset = 8192;
                break;
        }
        long bitmapLength = layout == "v3-broken" ? 16 : size / (8 * 512);
        long align = layout == "v3-broken" ? 4096 : 512;
        long dataOffset = (bitmapOffset + bitmapLength + align - 1) / align * align;
        var file = new byte[dataOffset + size];
        head.CopyTo(file, 0);
        file[bitmapOffset] = 0b0010_0010;
        foreach (int s in new[] { 1, 5 })
        {
            var data = SeededData.Bytes(512, 100 + s);
            data.CopyTo(file, dataOffset + s * 512);
            data.CopyTo(model, s * 512);
        }
        File.WriteAllBytes(dir["old.cow"], file);
        Assert.That(DiskImage.Probe(dir["old.cow"]), Is.EqualTo("cow"));
        using var image = DiskImage.Open(dir["old.cow"]);
        Assert.That(image.BackingFileName, Is.EqualTo(dir["base.raw"]));
        Assert.That(ReadAll(image), Is.EqualTo(model));
    }

    [TestCase("mtime", "mtime mismatch")]
    [TestCase("size", "Size mismatch (1000000 vs 1000001) of COW header vs backing file")]
    [TestCase("missing", "No such file or directory")]
    public void Open_BackingFileChanged_FailsAsUmlDoes(string change, string message)
    {
        using var dir = new TempDir();
        MakeBase(dir);
        CreateCow(dir);
        switch (change)
        {
            case "mtime": File.SetLastWriteTimeUtc(dir["base.raw"], BaseTime.AddSeconds(1)); break;
            case "size":
                File.AppendAllText(dir["base.raw"], "x");
                File.SetLastWriteTimeUtc(dir["base.raw"], BaseTime);
                break;
            default: File.Delete(dir["base.raw"]); break;
        }
        Assert.That(OpenError(dir["c.cow"]), Does.Contain(message));
        if (change == "mtime")
            Assert.That(OpenError(dir["c.cow"]), Does.EndWith($"mtime mismatch ({BaseSeconds} vs {BaseSeconds + 1}) of COW header vs backing file"));
        // info does not open the backing file.
        Assert.That(InfoHuman(dir["c.cow"]), Does.StartWith($"image: {dir["c.cow"]}\nfile format: cow\n"));
    }

    [Test]
    public void Info_ShowsFormatSizeAndBackingFile()
    {
        using var dir = new TempDir();
        MakeBase(dir);
        CreateCow(dir);
        string info = InfoHuman(dir["c.cow"]);
        Assert.That(info, Does.Match(
            $"^image: {dir["c.cow"]}\nfile format: cow\nvirtual size: 976 KiB \\(999936 bytes\\)\ndisk size: [0-9.]+ KiB\nbacking file: {dir["base.raw"]}\nbacking file format: raw\n$"));
    }

    [Test]
    public void Convert_ToCowWithoutBacking_RoundTripsAndKeepsThePackedLayout()
    {
        using var dir = new TempDir();
        var data = MixedData(3 << 20, 5);
        data.AsSpan(1 << 20, 1 << 20).Clear();
        File.WriteAllBytes(dir["src.raw"], data);
        ConvertOperation.Run([dir["src.raw"]], dir["out.cow"], new ConvertOptions { OutputFormat = "cow" });
        var spec = UmlCowSpec.Parse(File.ReadAllBytes(dir["out.cow"]));
        Assert.That((spec.BackingFile, spec.Size, spec.Alignment), Is.EqualTo(("", (ulong)data.Length, 4096u)));
        Assert.That(spec.Merge([]), Is.EqualTo(data));
        int dataBlocks = Enumerable.Range(0, data.Length / 4096).Count(b => data.AsSpan(b * 4096, 4096).ContainsAnyExcept((byte)0));
        Assert.That(spec.SetSectors().Count(), Is.EqualTo(dataBlocks * 8), "zero 4 KiB blocks (convert's -S) are not stored");
        ConvertOperation.Run([dir["out.cow"]], dir["back.raw"], new ConvertOptions());
        Assert.That(File.ReadAllBytes(dir["back.raw"]), Is.EqualTo(data));
    }

    [TestCase("qcow")]
    [TestCase("qcow2")]
    public void Chain_OverCowOverRaw_ReadsThroughEveryLevel(string topFormat)
    {
        using var dir = new TempDir();
        var model = MakeBase(dir, 1 << 20);
        CreateCow(dir, "mid.cow");
        using (var cow = DiskImage.Open(dir["mid.cow"], new OpenOptions { ReadOnly = false }))
        {
            var d = SeededData.Bytes(8192, 21);
            cow.Write(65536, d);
            d.CopyTo(model, 65536);
        }
        File.SetLastWriteTimeUtc(dir["base.raw"], BaseTime);
        DiskImage.Create(new CreateRequest(dir["top.qcow"], topFormat)
        {
            Options = new ImageTool.Options.ImageOptions().Set("backing_file", "mid.cow").Set("backing_fmt", "cow"),
        });
        using (var top = DiskImage.Open(dir["top.qcow"], new OpenOptions { ReadOnly = false }))
        {
            var d = SeededData.Bytes(3000, 22);
            top.Write(70_000, d);
            d.CopyTo(model, 70_000);
            Assert.That(BackingChain.Images(top).Select(i => i.Format.Name), Is.EqualTo(new[] { topFormat, "cow", "raw" }));
            Assert.That(ReadAll(top), Is.EqualTo(model));
        }
        ConvertOperation.Run([dir["top.qcow"]], dir["flat.raw"], new ConvertOptions());
        Assert.That(File.ReadAllBytes(dir["flat.raw"]), Is.EqualTo(model));
    }

    [Test]
    public void Check_ConsistentImage_IsClean_AndBitBeyondTheDisk_IsCorruption()
    {
        using var dir = new TempDir();
        MakeBase(dir);
        CreateCow(dir);
        using (var image = DiskImage.Open(dir["c.cow"], new OpenOptions { ReadOnly = false }))
        {
            image.Write(0, new byte[4096]);
            Assert.That(CheckOperation.Run(image, CheckRepair.None, _ => { }).ExitCode, Is.Zero);
        }
        var bytes = File.ReadAllBytes(dir["c.cow"]);
        bytes[8192 + 244] |= 0x80; // sector 1959: the disk has 1954 sectors
        File.WriteAllBytes(dir["c.cow"], bytes);
        File.SetLastWriteTimeUtc(dir["base.raw"], BaseTime);
        using var bad = DiskImage.Open(dir["c.cow"], new OpenOptions { OpenBacking = false });
        var lines = new List<string>();
        Assert.That(CheckOperation.Run(bad, CheckRepair.None, lines.Add).ExitCode, Is.EqualTo(2));
        Assert.That(lines, Has.Some.Contains("sector 1959"));
    }

    [Test]
    public void Open_BitmapCutShort_FailsCleanly()
    {
        using var dir = new TempDir();
        MakeBase(dir);
        CreateCow(dir);
        var bytes = File.ReadAllBytes(dir["c.cow"]);
        File.WriteAllBytes(dir["c.cow"], bytes.AsSpan(0, 8192 + 100).ToArray());
        Assert.That(OpenError(dir["c.cow"], new OpenOptions { OpenBacking = false }), Does.Contain("bitmap (245 bytes at offset 8192) does not fit in the file"));
    }

    [TestCase(20, 0u, "Unsupported cow version 4")]
    [TestCase(20, 1u, "Invalid cow sector size 0")]
    [TestCase(20, 2u, "Invalid cow sector size 16777216")]
    [TestCase(12, 3u, "Invalid cow image size")]
    public void Open_HostileHeader_FailsCleanly(int _, uint variant, string message)
    {
        using var dir = new TempDir();
        MakeBase(dir);
        CreateCow(dir);
        var bytes = File.ReadAllBytes(dir["c.cow"]);
        switch (variant)
        {
            case 0: BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), 4); break;
            case 1: BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(20), 0); break;
            case 2: BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(20), 1 << 24); break;
            default: BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(12), ulong.MaxValue / 2); break;
        }
        File.WriteAllBytes(dir["c.cow"], bytes);
        // An unknown version probes as raw (UML then uses the file as a plain disk), so name the format.
        Assert.That(OpenError(dir["c.cow"], new OpenOptions { OpenBacking = false, Format = "cow" }), Does.Contain(message));
    }

    [Test]
    public void Probe_CowMagic_IsCow_WhileQemuSeesRaw()
    {
        using var dir = new TempDir();
        MakeBase(dir);
        CreateCow(dir);
        Assert.That(DiskImage.Probe(dir["c.cow"]), Is.EqualTo("cow"));
        Assert.That(Tools.QemuImg("info", dir["c.cow"]).Ok().Stdout, Does.Contain("file format: raw"));
    }
}
