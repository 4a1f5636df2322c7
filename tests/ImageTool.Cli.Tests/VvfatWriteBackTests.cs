using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// vvfat <c>fat:rw:DIR</c>: a FAT disk changed by mtools (new, changed, moved and deleted files, a new directory)
/// is written through img onto the virtual disk, and the host directory then holds those changes; qemu-io
/// writing the same sectors to a copy of the directory creates the same new files.
/// </summary>
[Category("Qemu")]
public class VvfatWriteBackTests
{
    private const string Partition = "@@32256";    // the FAT16 volume starts at sector 63
    private TempDir _dir = null!;
    private readonly byte[] _keep = SeededData.Bytes(20_000, 1);
    private readonly byte[] _newFile = SeededData.Bytes(30_000, 2);
    private readonly byte[] _changed = "changed, and longer than before\n"u8.ToArray();

    [SetUp]
    public void SetUp()
    {
        Tools.Require("mcopy");
        _dir = new TempDir();
        Write("dir/a.txt", "hello\n"u8.ToArray());
        Write("dir/keep.bin", _keep);
        Write("dir/gone.txt", "bye\n"u8.ToArray());
        Write("dir/sub/x.txt", "inner\n"u8.ToArray());
        // One name to FAT, two to the host: both stay.
        Write("dir/sub/Case.txt", "upper\n"u8.ToArray());
        Write("dir/sub/case.txt", "lower\n"u8.ToArray());
        Write("dir/empty", []);
        Write("new.bin", _newFile);
        Write("changed.txt", _changed);
        var img = Img.Run(_dir.Path, "convert", "-O", "raw", "fat:dir", "base.raw");
        Assert.That(img.ExitCode, Is.Zero, img.Stderr);
    }

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private void Write(string name, byte[] data)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_dir[name])!);
        File.WriteAllBytes(_dir[name], data);
    }

    private void Mtools(string tool, params string[] args)
    {
        var result = Tools.RunIn(_dir.Path, "env", ["MTOOLS_SKIP_CHECK=1", "LC_ALL=C.UTF-8", tool, "-i", "mod.raw" + Partition, .. args]);
        Assert.That(result.ExitCode, Is.Zero, $"{tool}: {result.Stderr}");
    }

    // Deleting first lets mtools give the deleted file's cluster to the new directory (qemu 7.2 aborts on that).
    [TestCase(false)]
    [TestCase(true)]
    public void ConvertOntoDisk_HostDirectoryFollows(bool deleteFirst)
    {
        File.Copy(_dir["base.raw"], _dir["mod.raw"]);
        if (deleteFirst) Mtools("mdel", "::/gone.txt");
        Mtools("mmd", "::/newdir");
        Mtools("mcopy", "changed.txt", "::/newdir/inner.txt");
        Mtools("mcopy", "new.bin", "::/New File.bin");
        Mtools("mcopy", "-o", "changed.txt", "::/a.txt");
        Mtools("mmove", "::/keep.bin", "::/sub/moved.bin");
        if (!deleteFirst) Mtools("mdel", "::/gone.txt");

        var img = Img.Run(_dir.Path, "convert", "-n", "-O", "raw", "mod.raw", "fat:rw:dir");
        Assert.That(img.ExitCode, Is.Zero, img.Stderr);
        Assert.That(img.Stderr, Is.Empty);
        Assert.That(Tree("dir"), Is.EqualTo(new Dictionary<string, byte[]?>
        {
            ["New File.bin"] = _newFile,
            ["a.txt"] = _changed,
            ["empty"] = [],
            ["newdir"] = null,
            ["newdir/inner.txt"] = _changed,
            ["sub"] = null,
            ["sub/Case.txt"] = "upper\n"u8.ToArray(),
            ["sub/case.txt"] = "lower\n"u8.ToArray(),
            ["sub/moved.bin"] = _keep,
            ["sub/x.txt"] = "inner\n"u8.ToArray(),
        }));
    }

    [Test]
    public void SameSectorsAsQemuIo_SameNewFiles()
    {
        Tools.Require("qemu-io");
        File.Copy(_dir["base.raw"], _dir["mod.raw"]);
        Mtools("mmd", "::/newdir");
        Mtools("mcopy", "changed.txt", "::/newdir/inner.txt");
        Mtools("mcopy", "new.bin", "::/New File.bin");
        CopyDirectory(_dir["dir"], _dir["qdir"]);

        // qemu-io writes just the sectors mtools changed, in disk order; img copies the whole disk over.
        var commands = new List<string> { "-f", "raw" };
        int k = 0;
        foreach (var (first, count) in ChangedSectors(File.ReadAllBytes(_dir["base.raw"]), File.ReadAllBytes(_dir["mod.raw"])))
        {
            using (var mod = File.OpenRead(_dir["mod.raw"]))
            {
                var bytes = new byte[count * 512];
                mod.Position = first * 512;
                mod.ReadExactly(bytes);
                File.WriteAllBytes(_dir[$"piece{k}"], bytes);
            }
            commands.AddRange(["-c", $"write -s piece{k} {first * 512} {count * 512}"]);
            k++;
        }
        commands.Add("fat:rw:qdir");
        var qemu = Tools.RunIn(_dir.Path, "qemu-io", [.. commands]);
        Assert.That(qemu.ExitCode, Is.Zero, qemu.Stderr);
        var img = Img.Run(_dir.Path, "convert", "-n", "-O", "raw", "mod.raw", "fat:rw:dir");
        Assert.That(img.ExitCode, Is.Zero, img.Stderr);

        var imgTree = Tree("dir");
        Assert.That(imgTree, Is.EqualTo(Tree("qdir")));
        Assert.That(imgTree["New File.bin"], Is.EqualTo(_newFile));
        Assert.That(imgTree["newdir/inner.txt"], Is.EqualTo(_changed));
    }

    [Test]
    public void BootSectorChanged_RefusedAsQemu_NothingWritten()
    {
        byte[] disk = File.ReadAllBytes(_dir["base.raw"]);
        disk[63 * 512 + 3] ^= 0xFF;     // the OEM name
        File.WriteAllBytes(_dir["mod.raw"], disk);
        Mtools("mcopy", "new.bin", "::/late.bin");
        var before = Tree("dir");
        var img = Img.Run(_dir.Path, "convert", "-n", "-O", "raw", "mod.raw", "fat:rw:dir");
        Assert.That(img.ExitCode, Is.EqualTo(1));
        Assert.That(img.Stderr, Does.Contain("Operation not permitted"));
        Assert.That(Tree("dir"), Is.EqualTo(before));
    }

    private static IEnumerable<(long First, long Count)> ChangedSectors(byte[] a, byte[] b)
    {
        long sectors = a.Length / 512;
        for (long i = 0; i < sectors;)
        {
            if (Same(a, b, i))
            {
                i++;
                continue;
            }
            long j = i;
            while (j < sectors && !Same(a, b, j)) j++;
            yield return (i, j - i);
            i = j;
        }
    }

    private static bool Same(byte[] a, byte[] b, long sector) =>
        a.AsSpan((int)(sector * 512), 512).SequenceEqual(b.AsSpan((int)(sector * 512), 512));

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string d in Directory.GetDirectories(from, "*", SearchOption.AllDirectories)) Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, d)));
        foreach (string f in Directory.GetFiles(from, "*", SearchOption.AllDirectories)) File.Copy(f, Path.Combine(to, Path.GetRelativePath(from, f)));
    }

    // Every entry under the folder: files with their bytes, directories as null.
    private Dictionary<string, byte[]?> Tree(string folder)
    {
        string root = _dir[folder];
        return Directory.GetFileSystemEntries(root, "*", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .ToDictionary(p => Path.GetRelativePath(root, p), p => Directory.Exists(p) ? null : File.ReadAllBytes(p));
    }
}
