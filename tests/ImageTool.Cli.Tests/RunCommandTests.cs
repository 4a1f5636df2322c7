using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>img run as a process: the CLI plumbing around ImageTool.Kvm (behaviour is tested in ImageTool.Kvm.Tests).</summary>
public class RunCommandTests
{
    [Test]
    public void Run_BootSector_PrintsItsOutputAndExitsZero()
    {
        if (!File.Exists("/dev/kvm"))
        {
            if (Tools.InCi) Assert.Fail("/dev/kvm is required under CI=true");
            Assert.Ignore("/dev/kvm is missing");
        }
        using var dir = new TempDir();
        File.WriteAllText(dir["boot.asm"], """
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
        Tools.Run("nasm", "-f", "bin", "-o", dir["boot.img"], dir["boot.asm"]).Ok();

        var result = Img.Run(dir.Path, "run", "-drive", "file=boot.img,format=raw", "-nographic");

        Assert.That(result.ExitCode, Is.Zero, result.Stderr);
        Assert.That(result.Stdout, Is.EqualTo("OK"));
    }

    [TestCase(new[] { "run", "-hda", "x.img", "-fda", "y" }, "img: -fda: invalid option\nTry 'img --help' for more information\n")]
    [TestCase(new[] { "run", "-hda", "missing.img" }, "img: Could not open 'missing.img': Could not open 'missing.img': No such file or directory\n")]
    public void Run_BadInput_PrintsOneImgLineAndFails(string[] args, string stderr)
    {
        using var dir = new TempDir();

        var result = Img.Run(dir.Path, args);

        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Stderr, Is.EqualTo(stderr));
    }

    [Test]
    public void Run_SmbDirectoryMissing_OneImgLineAsQemu()
    {
        if (!File.Exists("/dev/kvm"))
        {
            if (Tools.InCi) Assert.Fail("/dev/kvm is required under CI=true");
            Assert.Ignore("/dev/kvm is missing");
        }
        Tools.Require("smbd");
        using var dir = new TempDir();
        File.WriteAllBytes(dir["disk.img"], new byte[512]);

        var result = Img.Run(dir.Path, "run", "-drive", "file=disk.img,format=raw", "-nic", "user,model=ne2k_pci,smb=no-such-dir");

        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Stderr, Is.EqualTo("img: Error accessing shared directory 'no-such-dir': No such file or directory\n"));
    }
}
