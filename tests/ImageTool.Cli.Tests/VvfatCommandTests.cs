using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// vvfat (<c>fat:[floppy:][12:|16:|32:][rw:]DIR</c>): info and errors as qemu-img's; the disk byte-identical to
/// <c>qemu-img convert -O raw</c> where qemu's output is deterministic; the files read back by fsck.fat and mtools.
/// </summary>
[Category("Qemu")]
public class VvfatCommandTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp()
    {
        Tools.Require("qemu-img");
        _dir = new TempDir();
        // Whole clusters only: qemu fills the rest of a file's last cluster with stale bytes of its read buffer.
        Write("exact/a.bin", SeededData.Bytes(8192, 1));
        Write("exact/ABC.TXT", SeededData.Bytes(16384, 2));
        Write("exact/abc.txt", []);
        Write("exact/A long file name with spaces.data", SeededData.Bytes(24576, 3));
        Write("exact/.hidden", []);
        Write("exact/many.dots.in.name", SeededData.Bytes(8192, 4));
        Write("exact/caf\u00e9 cr\u00e8me.txt", SeededData.Bytes(8192, 5));
        Write("exact/sub/deeper/leaf.c", SeededData.Bytes(8192, 6));
        Write("exact/sub/longername.html", []);
        for (int i = 0; i < 12; i++) Write($"exact/sub/similar name {i}.txt", SeededData.Bytes(8192, 10 + i));
        Directory.CreateDirectory(_dir["exact/empty dir"]);

        Write("odd/one.txt", "hello\n"u8.ToArray());
        Write("odd/Mixed Case Name.Bin", SeededData.Bytes(100_000, 7));
        Write("odd/a/b/c/d/deep file.txt", SeededData.Bytes(12_345, 8));
        Write("odd/a/b/sibling", SeededData.Bytes(1, 9));
        for (int i = 0; i < 40; i++) Write($"odd/a/list/entry number {i:D3}.dat", SeededData.Bytes(i * 37 + 1, 100 + i));
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private void Write(string name, byte[] data)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_dir[name])!);
        File.WriteAllBytes(_dir[name], data);
    }

    private void Clean() => File.Delete(_dir["out.raw"]);

    [TestCase("info fat:exact")]
    [TestCase("info --output=json fat:exact")]
    [TestCase("info fat:12:exact")]
    [TestCase("info fat:floppy:odd")]
    [TestCase("info --output=json fat:floppy:12:odd")]
    [TestCase("info fat:floppy:16:odd")]
    [TestCase("info fat:16:exact/")]
    [TestCase("info fat:rw:exact")]
    [TestCase("convert -O raw fat:rw:exact out.raw")]
    [TestCase("info fat:missing")]
    [TestCase("info fat:")]
    [TestCase("map --output=json fat:exact")]
    public void SameAsQemuImg(string command) => Img.AssertSameAsQemu(_dir.Path, command.Split(' '), Clean);

    [TestCase("fat:exact")]
    [TestCase("fat:12:exact")]
    [TestCase("fat:floppy:exact")]
    [TestCase("fat:floppy:12:exact")]
    [TestCase("fat:floppy:16:exact")]
    [TestCase("fat:32:exact")]
    public void Convert_ByteIdenticalToQemuImg(string name)
    {
        var qemu = Tools.RunIn(_dir.Path, "qemu-img", "convert", "-O", "raw", name, "q.raw");
        Assert.That(qemu.ExitCode, Is.Zero, qemu.Stderr);
        var img = Img.Run(_dir.Path, "convert", "-O", "raw", name, "i.raw");
        Assert.That(img.ExitCode, Is.Zero, img.Stderr);
        Assert.That(img.Stderr, Is.EqualTo(qemu.Stderr.Replace("qemu-img", "img", StringComparison.Ordinal)));
        Assert.That(File.ReadAllBytes(_dir["i.raw"]).SequenceEqual(File.ReadAllBytes(_dir["q.raw"])), Is.True, "img and qemu-img disks differ");
    }

    [TestCase("fat:odd", 63)]
    [TestCase("fat:12:odd", 63)]
    [TestCase("fat:floppy:odd", 0)]
    [TestCase("fat:floppy:12:odd", 0)]
    [TestCase("fat:exact", 63)]
    public void Convert_FsckCleanAndFilesReadBack(string name, int partitionSector)
    {
        Tools.Require("fsck.fat");
        Tools.Require("mcopy");
        var img = Img.Run(_dir.Path, "convert", "-O", "raw", name, "i.raw");
        Assert.That(img.ExitCode, Is.Zero, img.Stderr);
        byte[] disk = File.ReadAllBytes(_dir["i.raw"]);
        File.WriteAllBytes(_dir["p.raw"], disk[(partitionSector * 512)..]);
        var fsck = Tools.RunIn(_dir.Path, "fsck.fat", "-n", "p.raw");
        Assert.That(fsck.ExitCode, Is.Zero, fsck.Stdout + fsck.Stderr);
        Directory.CreateDirectory(_dir["back"]);
        // mtools writes long names in the locale's charset (Tools runs with LC_ALL=C).
        var copy = Tools.RunIn(_dir.Path, "env", "LC_ALL=C.UTF-8", "mcopy", "-s", "-n", "-i", "p.raw", "::/", "back/");
        Assert.That(copy.ExitCode, Is.Zero, copy.Stderr);
        string source = _dir[name.Split(':')[^1]];
        var expected = Directory.GetFileSystemEntries(source, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(source, p)).Order().ToList();
        var actual = Directory.GetFileSystemEntries(_dir["back"], "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(_dir["back"], p)).Order().ToList();
        Assert.That(actual, Is.EqualTo(expected));
        foreach (string file in expected.Where(f => File.Exists(Path.Combine(source, f))))
            Assert.That(File.ReadAllBytes(Path.Combine(_dir["back"], file)), Is.EqualTo(File.ReadAllBytes(Path.Combine(source, file))), file);
    }

    [Test]
    public void TooManyRootEntries_SameAsQemuImg_NothingWritten()
    {
        for (int i = 0; i < 300; i++) Write($"many/file number {i}.txt", [1]);
        AssertFailsLikeQemu("convert -O raw fat:many out.raw");
    }

    [Test]
    public void ContentTooLargeForFat12_SameAsQemuImg_NothingWritten()
    {
        Directory.CreateDirectory(_dir["big"]);
        using (var f = File.Create(_dir["big/sparse"])) f.SetLength(40 << 20);
        AssertFailsLikeQemu("convert -O raw fat:12:big out.raw");
        AssertFailsLikeQemu("convert -O raw fat:floppy:big out.raw");
    }

    [Test]
    public void FileOver2G_SameAsQemuImg_NothingWritten()
    {
        Directory.CreateDirectory(_dir["huge"]);
        using (var f = File.Create(_dir["huge/sparse"])) f.SetLength(3L << 30);
        AssertFailsLikeQemu("convert -O raw fat:huge out.raw");
    }

    [Test]
    public void NameNotUtf8_WarnsAsQemuImg_AndGetsAShortName()
    {
        Directory.CreateDirectory(_dir["raw names"]);
        // A Linux name need not be UTF-8: qemu warns, and gives it only an 8.3 name.
        byte[] name = [.. System.Text.Encoding.UTF8.GetBytes(_dir["raw names"] + "/x"), 0xFF, 0xFE, .. ".txt"u8];
        Assume.That(CreateRawName(name), Is.True, "the file system refuses names that are not UTF-8");
        var qemu = Tools.RunIn(_dir.Path, "qemu-img", "convert", "-O", "raw", "fat:raw names", "q.raw");
        var img = Img.Run(_dir.Path, "convert", "-O", "raw", "fat:raw names", "i.raw");
        Assert.That(img.Stderr, Is.EqualTo(qemu.Stderr));
        Assert.That(File.ReadAllBytes(_dir["i.raw"]).SequenceEqual(File.ReadAllBytes(_dir["q.raw"])), Is.True);
    }

    private static bool CreateRawName(byte[] path)
    {
        var python = Tools.RunIn(null, "python3", "-c", "import sys; open(bytes.fromhex(sys.argv[1]), 'wb').close()", Convert.ToHexString(path));
        return python.ExitCode == 0;
    }

    private void AssertFailsLikeQemu(string command)
    {
        Img.AssertSameAsQemu(_dir.Path, command.Split(' '), Clean);
        Assert.That(File.Exists(_dir["out.raw"]), Is.False, "nothing is written");
    }
}
