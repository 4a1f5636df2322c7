using ImageTool.IO;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// Block devices (qemu's host_device protocol) on a loop device the test attaches: size from BLKGETSIZE64,
/// the format probed on top, convert/dd/compare/map from and to the device, side by side with qemu-img.
/// </summary>
[Category("Qemu")]
[NonParallelizable]
public class HostDeviceTests
{
    private const long DeviceSize = 64L << 20;
    private TempDir _dir = null!;
    private LoopDevice _loop = null!;
    private string Dev => _loop.Path;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        Tools.Require("qemu-img");
        _loop = LoopDevice.Attach(_dir["backing.bin"], DeviceSize);
        // Data at an odd offset and in the middle, holes elsewhere.
        var data = SeededData(3_000_000, 7);
        using var src = File.Create(_dir["src.raw"]);
        src.SetLength(DeviceSize);
        src.Position = 1000;
        src.Write(data);
        src.Position = 40 << 20;
        src.Write(data);
    }

    [TearDown]
    public void TearDown()
    {
        _loop?.Dispose();
        _dir.Dispose();
    }

    private static byte[] SeededData(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private void FillDevice(int seed)
    {
        using var f = new FileStream(Dev, FileMode.Open, FileAccess.Write);
        f.Write(SeededData((int)DeviceSize, seed));
    }

    private static byte[] ReadDevice(string path, long length)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read);
        var bytes = new byte[length];
        f.ReadExactly(bytes);
        return bytes;
    }

    private void AssertDeviceHolds(string rawFile) =>
        Assert.That(ReadDevice(Dev, DeviceSize).AsSpan().SequenceEqual(File.ReadAllBytes(rawFile)), Is.True, $"{Dev} differs from {rawFile}");

    [TestCase("info DEV")]
    [TestCase("info --output=json DEV")]
    [TestCase("info -f host_device DEV")]
    [TestCase("info -f raw DEV")]
    [TestCase("info --output=json --image-opts driver=host_device,filename=DEV")]
    [TestCase("info --image-opts driver=host_cdrom,filename=DEV")]
    [TestCase("info --image-opts driver=file,filename=DEV")]
    [TestCase("info --image-opts driver=host_device")]
    [TestCase("info -f host_floppy DEV")]
    [TestCase("info -f host_device src.raw")]
    [TestCase("info --image-opts driver=host_cdrom,filename=src.raw")]
    [TestCase("map DEV")]
    [TestCase("map --output=json DEV")]
    [TestCase("check DEV")]
    [TestCase("create -f raw DEV 128M")]
    [TestCase("create -f host_device DEV 32M")]
    [TestCase("compare DEV src.raw")]
    public void Command_SameAsQemuImg(string command) =>
        Img.AssertSameAsQemu(_dir.Path, command.Replace("DEV", Dev, StringComparison.Ordinal).Split(' '));

    [Test]
    public void Info_DeviceSizeFromIoctl_NotStat()
    {
        var info = Img.Run(_dir.Path, "info", Dev).Ok();
        Assert.That(info.Stdout, Does.Contain("virtual size: 64 MiB (67108864 bytes)"));
    }

    // (vmdk is left out: its descriptor carries a random CID.)
    [TestCase("qcow2")]
    [TestCase("raw")]
    [TestCase("qcow2", "-T", "none")]
    public void Convert_FromDevice_SameBytesAsQemuImg(string format, params string[] flags)
    {
        Tools.QemuImg("convert", "-n", "-f", "raw", "-O", "raw", _dir["src.raw"], Dev).Ok();
        Img.Run(_dir.Path, ["convert", .. flags, "-O", format, Dev, "img." + format]).Ok();
        Tools.QemuImg(["convert", .. flags, "-O", format, Dev, _dir["qemu." + format]]).Ok();
        Assert.That(File.ReadAllBytes(_dir["img." + format]), Is.EqualTo(File.ReadAllBytes(_dir["qemu." + format])));
        Tools.QemuImg("compare", _dir["img." + format], _dir["src.raw"]).Ok();
    }

    [TestCase("-n")]
    [TestCase("-n", "-t", "none")]
    [TestCase("-t", "writeback")]
    [TestCase("-t", "directsync")]
    public void Convert_ToDevice_DeviceHoldsTheImage(params string[] flags)
    {
        // Old contents everywhere: zero ranges of the source must be written too (a device has no zero-init).
        FillDevice(99);
        Tools.QemuImg("convert", "-O", "qcow2", _dir["src.raw"], _dir["src.qcow2"]).Ok();
        Img.Run(_dir.Path, ["convert", .. flags, "-O", "raw", "src.qcow2", Dev]).Ok();
        AssertDeviceHolds(_dir["src.raw"]);
        Tools.QemuImg("compare", "-f", "raw", "-F", "raw", Dev, _dir["src.raw"]).Ok();
    }

    [Test]
    public void Convert_Qcow2OntoDevice_OpensAsQcow2LikeQemu()
    {
        FillDevice(5);
        Img.Run(_dir.Path, "convert", "-O", "qcow2", "src.raw", Dev).Ok();
        Img.AssertSameAsQemu(_dir.Path, ["info", Dev]);
        Img.AssertSameAsQemu(_dir.Path, ["check", Dev]);
        Img.AssertSameAsQemu(_dir.Path, ["map", "--output=json", Dev]);
        Tools.QemuImg("compare", Dev, _dir["src.raw"]).Ok();
    }

    [Test]
    public void Dd_FromAndToDevice_SameAsQemuImg()
    {
        Img.Run(_dir.Path, "dd", "-O", "raw", "if=src.raw", $"of={Dev}", "bs=1M").Ok();
        AssertDeviceHolds(_dir["src.raw"]);
        Img.Run(_dir.Path, "dd", "-f", "raw", $"if={Dev}", "of=img.raw", "bs=64k", "skip=3", "count=100").Ok();
        Tools.QemuImg("dd", "-f", "raw", $"if={Dev}", $"of={_dir["qemu.raw"]}", "bs=64k", "skip=3", "count=100").Ok();
        Assert.That(File.ReadAllBytes(_dir["img.raw"]), Is.EqualTo(File.ReadAllBytes(_dir["qemu.raw"])));
    }

    [Test]
    public void ReadOnlyDevice_LargeReadsBypassThePageCache_SameBytesAsTheDevice()
    {
        FillDevice(13);
        var expected = ReadDevice(Dev, DeviceSize);
        using var file = HostFile.Open(Dev, readOnly: true);
        // Large and aligned (convert's chunks), large and unaligned, small, and large running past the end.
        (long Offset, int Length)[] reads = [(2 << 20, 2 << 20), (4097, (1 << 20) + 3), (12345, 100), (DeviceSize - (1 << 20), 2 << 20)];
        foreach (var (offset, length) in reads)
        {
            var buffer = new byte[length];
            file.Read(offset, buffer);
            int inside = (int)Math.Min(length, DeviceSize - offset);
            Assert.That(buffer.AsSpan(0, inside).SequenceEqual(expected.AsSpan((int)offset, inside)), Is.True, $"read at {offset}");
            Assert.That(buffer.AsSpan(inside).ContainsAnyExcept((byte)0), Is.False, $"past the end at {offset}");
            var available = new byte[length];
            Assert.That(file.ReadAvailable(offset, available), Is.EqualTo(inside));
            Assert.That(available.AsSpan(0, inside).SequenceEqual(expected.AsSpan((int)offset, inside)), Is.True, $"available at {offset}");
        }
        Assert.That(DirectDescriptorsOf(Dev), Is.GreaterThan(0), $"no O_DIRECT descriptor of {Dev} is open");
    }

    // Descriptors of this process open on the device with O_DIRECT (the flags in /proc/self/fdinfo are octal).
    private static int DirectDescriptorsOf(string device) =>
        Directory.GetFiles("/proc/self/fd").Count(fd =>
        {
            try
            {
                if (new FileInfo(fd).LinkTarget != device) return false;
                string flags = File.ReadAllLines($"/proc/self/fdinfo/{System.IO.Path.GetFileName(fd)}")
                    .First(line => line.StartsWith("flags:", StringComparison.Ordinal))["flags:".Length..].Trim();
                return (Convert.ToInt64(flags, 8) & HostDevice.DirectFlag) != 0;
            }
            catch (IOException) { return false; }
        });

    [Test]
    public void DirectIO_UnalignedWrites_ReadModifyWriteTheEdgeSectors()
    {
        FillDevice(3);
        var before = ReadDevice(Dev, DeviceSize);
        using (var image = DiskImage.Open(Dev, new OpenOptions { ReadOnly = false, Format = "host_device", Cache = CacheMode.None }))
        {
            image.Write(1000, new byte[] { 1, 2, 3 });
            image.Write((1 << 20) - 7, SeededData(3 << 20, 11));
            var back = new byte[3];
            image.Read(1000, back);
            Assert.That(back, Is.EqualTo(new byte[] { 1, 2, 3 }));
        }
        var expected = before.ToArray();
        new byte[] { 1, 2, 3 }.CopyTo(expected, 1000);
        SeededData(3 << 20, 11).CopyTo(expected, (1 << 20) - 7);
        Assert.That(ReadDevice(Dev, DeviceSize).AsSpan().SequenceEqual(expected), Is.True);
    }

    [TestCase("raw")]
    [TestCase("qcow2")]
    public void Run_HdaOnDevice_BootsItsBootSector(string format)
    {
        if (!File.Exists("/dev/kvm"))
        {
            if (Tools.InCi) Assert.Fail("/dev/kvm is required under CI=true");
            Assert.Ignore("/dev/kvm is missing");
        }
        File.WriteAllText(_dir["boot.asm"], """
            bits 16
            org 0x7c00
                mov ax, 0x0e4f
                int 0x10
                mov al, 'K'
                int 0x10
                cli
                hlt
            times 510-($-$$) db 0
            dw 0xaa55
            """);
        Tools.Run("nasm", "-f", "bin", "-o", _dir["boot.img"], _dir["boot.asm"]).Ok();
        FillDevice(1);
        Img.Run(_dir.Path, "convert", "-f", "raw", "-O", format, "boot.img", Dev).Ok();

        var result = Img.Run(_dir.Path, "run", "-hda", Dev, "-nographic");

        Assert.That(result.ExitCode, Is.Zero, result.Stderr);
        Assert.That(result.Stdout, Is.EqualTo("OK"));
    }

    [Test]
    public void Fifo_RefusedWithQemuMessage_NoHang()
    {
        Tools.Run("mkfifo", _dir["pipe"]).Ok();
        var result = Img.Run(_dir.Path, "info", "pipe");
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Stderr, Is.EqualTo("img: Could not open 'pipe': 'file' driver requires 'pipe' to be a regular file\n"));
    }
}
