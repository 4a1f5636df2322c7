using System.Buffers.Binary;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>Garbage and truncated files: one "img:" line, non-zero exit, never a stack trace.</summary>
public class BadInputTests
{
    [TestCase("info")]
    [TestCase("check")]
    [TestCase("convert")]
    public void GarbageFile_AnyCommand_NoStackTrace(string command)
    {
        using var dir = new TempDir();
        var random = new Random(5);
        for (int i = 0; i < 20; i++)
        {
            var bytes = new byte[random.Next(0, 4096)];
            random.NextBytes(bytes);
            File.WriteAllBytes(dir["g.img"], bytes);
            var args = command == "convert" ? new[] { command, "g.img", "out.raw" } : new[] { command, "g.img" };
            var r = Img.Run(dir.Path, args);
            Assert.That(r.Stderr, Does.Not.Contain("   at "), r.Stderr);
            if (r.ExitCode != 0)
                Assert.That(r.Stderr, Does.StartWith("img: "));
        }
    }

    /// <summary>A character device has no size: qemu-img writes a 0-byte disk and exits 0, img refuses and creates nothing.</summary>
    [TestCase("/dev/zero")]
    [TestCase("/dev/null")]
    public void Convert_FromCharacterDevice_RefusedNothingCreated(string device)
    {
        using var dir = new TempDir();
        var r = Img.Run(dir.Path, "convert", "-O", "qcow2", device, "out.qcow2");
        Assert.That(r.ExitCode, Is.EqualTo(1));
        Assert.That(r.Stderr, Is.EqualTo($"img: Could not get size of {device}: a character device has no size\n"));
        Assert.That(File.Exists(dir["out.qcow2"]), Is.False);
    }

    /// <summary>A read-only image with broken metadata: qemu's one "Image is corrupt" warning, then EIO in each command's words.</summary>
    [TestCase("map u.qcow2")]
    [TestCase("map --output=json u.qcow2")]
    [TestCase("convert -O raw u.qcow2 out.raw")]
    [TestCase("compare u.qcow2 u.qcow2")]
    public void CorruptMapping_ReadOnlyCommands_AsQemu(string commandLine)
    {
        using var dir = new TempDir();
        void Prepare()
        {
            File.Delete(dir["out.raw"]);
            Tools.QemuImg("create", "-q", "-f", "qcow2", dir["u.qcow2"], "64M").Ok();
            Tools.QemuIo("-c", "write -P 0xab 0 128k", dir["u.qcow2"]).Ok();
            var bytes = File.ReadAllBytes(dir["u.qcow2"]);
            BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(0x40000), 0x8000000000050200); // unaligned data cluster
            File.WriteAllBytes(dir["u.qcow2"], bytes);
        }
        Img.AssertSameAsQemu(dir.Path, commandLine.Split(' '), Prepare);
    }

    /// <summary>Seeded damage to a qcow2 and a vmdk, through the CLI: a clean exit or one "img:" line.</summary>
    [TestCase("qcow2")]
    [TestCase("vmdk")]
    public void MutatedImages_OneLineErrors(string format)
    {
        using var dir = new TempDir();
        Tools.QemuImg("create", "-q", "-f", format, dir["seed"], "4M").Ok();
        Tools.QemuIo("-f", format, "-c", "write -P 1 0 70k", "-c", "write -P 2 2M 4k", dir["seed"]).Ok();
        var seed = File.ReadAllBytes(dir["seed"]);
        var random = new Random(format.Length);
        for (int i = 0; i < 6; i++)
        {
            var (bytes, what) = Mutator.Mutate(seed, random);
            File.WriteAllBytes(dir["m.img"], bytes);
            foreach (var args in new[] { new[] { "info", "m.img" }, ["check", "m.img"], ["map", "m.img"], ["convert", "-O", "raw", "m.img", "out.raw"] })
            {
                var r = Img.Run(dir.Path, args);
                string lines = r.Stderr.TrimEnd('\n');
                Assert.That(r.Stderr, Does.Not.Contain("   at "), $"{what}: {string.Join(' ', args)}");
                if (r.ExitCode != 0 && args[0] != "check")
                    Assert.That(lines.Split('\n').Last(), Does.StartWith("img: "), $"{what}: {string.Join(' ', args)}");
            }
        }
    }

    [Test]
    public void UnhandledError_PrintsOneLine_UnlessDebug()
    {
        using var dir = new TempDir();
        var r = Img.Run(dir.Path, "convert", "-O", "raw", dir["missing"], dir["out"]);
        Assert.That(r.ExitCode, Is.EqualTo(1));
        Assert.That(r.Stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
    }
}
