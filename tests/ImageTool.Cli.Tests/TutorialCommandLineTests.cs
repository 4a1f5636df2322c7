using System.Text.Json;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// The KVM tutorial's command lines as written, with img (and links named kvm-img and kvm) in place of kvm-img and
/// kvm; qemu-img checks what they write.
/// </summary>
public class TutorialCommandLineTests
{
    private static readonly string AppHost = Path.Combine(AppContext.BaseDirectory, "img");

    [Test]
    public void Create_BackingWithoutFormat_ProbesOnceAndRecordsTheFormat()
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        Tools.QemuImg("create", "-f", "raw", dir["xp.img"], "16M").Ok();
        Tools.QemuIo("-f", "raw", "-c", "write -P 0x5a 0 64k", dir["xp.img"]).Ok();

        var result = Img.Run(dir.Path, "create", "-b", "xp.img", "-f", "qcow2", "xp.test");

        Assert.That(result.ExitCode, Is.Zero, result.Stderr);
        Assert.That(result.Stderr, Is.EqualTo("img: warning: Backing file specified without backing format; probed 'raw' " +
            "and recorded it in the image (add -F raw to say so)\n"));
        using var info = JsonDocument.Parse(Tools.QemuImg("info", "--output=json", dir["xp.test"]).Ok().Stdout);
        Assert.That(info.RootElement.GetProperty("backing-filename-format").GetString(), Is.EqualTo("raw"));
        Assert.That(info.RootElement.GetProperty("virtual-size").GetInt64(), Is.EqualTo(16L << 20));
        Tools.QemuImg("check", dir["xp.test"]).Ok();
        Tools.QemuImg("compare", dir["xp.img"], dir["xp.test"]).Ok();
    }

    [Test]
    public void Create_BackingWithoutFormat_ProbesQcow2Backing()
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        Tools.QemuImg("create", "-f", "qcow2", dir["base.qcow2"], "8M").Ok();

        var result = Img.Run(dir.Path, "create", "-f", "qcow2", "-b", "base.qcow2", "over.qcow2");

        Assert.That(result.ExitCode, Is.Zero, result.Stderr);
        using var info = JsonDocument.Parse(Tools.QemuImg("info", "--output=json", dir["over.qcow2"]).Ok().Stdout);
        Assert.That(info.RootElement.GetProperty("backing-filename-format").GetString(), Is.EqualTo("qcow2"));
    }

    [Test]
    public void LinkedAsQemuImg_CreateBackingWithoutFormat_IsRefusedAsQemuDoes()
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        Tools.QemuImg("create", "-f", "raw", dir["xp.img"], "16M").Ok();
        File.CreateSymbolicLink(dir["qemu-img"], AppHost);
        string[] args = ["create", "-b", "xp.img", "-f", "qcow2", "xp.test"];

        var img = Tools.RunIn(dir.Path, dir["qemu-img"], args);
        var qemu = Tools.RunIn(dir.Path, "qemu-img", args);

        Assert.That(img.ExitCode, Is.EqualTo(qemu.ExitCode).And.EqualTo(1));
        Assert.That(img.Stderr, Is.EqualTo(qemu.Stderr));
        Assert.That(File.Exists(dir["xp.test"]), Is.False);
    }

    [Test]
    public void Create_MissingBackingWithoutFormat_IsRefused()
    {
        using var dir = new TempDir();

        var result = Img.Run(dir.Path, "create", "-f", "qcow2", "-b", "missing.img", "t.qcow2");

        Assert.That(result.ExitCode, Is.EqualTo(1));
        // The backing file is opened (to probe it) before anything is created, so qemu's open error comes first.
        Assert.That(result.Stderr, Is.EqualTo("img: t.qcow2: Could not open 'missing.img': No such file or directory\nCould not open backing image.\n"));
        Assert.That(File.Exists(dir["t.qcow2"]), Is.False);
    }

    [TestCase("kvm-img")]
    [TestCase("qemu-img")]
    public void LinkedAsQemuImg_NamesItselfSoInMessages(string name)
    {
        using var dir = new TempDir();
        File.CreateSymbolicLink(dir[name], AppHost);

        var result = Tools.RunIn(dir.Path, dir[name], "info", "missing.img");

        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Stderr, Is.EqualTo($"{name}: Could not open 'missing.img': Could not open 'missing.img': No such file or directory\n"));
    }

    [Test]
    public void LinkedAsKvm_IsImgRun()
    {
        using var dir = new TempDir();
        File.CreateSymbolicLink(dir["kvm"], AppHost);

        var result = Tools.RunIn(dir.Path, dir["kvm"], "-no-acpi", "-m", "384", "-hda", "vm-disk.img", "-boot", "d");

        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Stderr, Does.StartWith("kvm: Could not open 'vm-disk.img'"));
    }

    [TestCase("-vga", "std")]
    [TestCase("-soundhw", "all")]
    [TestCase("-usb", null)]
    public void Run_DisplaySoundOrUsb_OneClearLine(string option, string? value)
    {
        using var dir = new TempDir();
        string[] args = value == null ? ["run", "-hda", "x.img", option] : ["run", "-hda", "x.img", option, value];

        var result = Img.Run(dir.Path, args);

        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Stderr, Does.StartWith($"img: {option}: not available in img run, a headless runner (no display, sound or USB)\n"));
    }

    [Test]
    public void Run_TutorialLines_BootFromCdThenFromVirtioDisk()
    {
        if (!File.Exists("/dev/kvm"))
        {
            if (Tools.InCi) Assert.Fail("/dev/kvm is required under CI=true");
            Assert.Ignore("/dev/kvm is missing");
        }
        Tools.Require("nasm");
        using var dir = new TempDir();
        Assemble(dir, "ide.img", 'I');
        Assemble(dir, "virtio.img", 'V');
        File.CreateSymbolicLink(dir["kvm"], AppHost);

        // kvm -no-acpi -m 384 -hda vm-disk.img ... -enable-kvm, then the virtio boot=on line.
        var ide = Tools.RunIn(dir.Path, dir["kvm"], "-no-acpi", "-m", "384", "-hda", "ide.img", "-enable-kvm");
        var virtio = Tools.RunIn(dir.Path, dir["kvm"], "-m", "384", "-hda", "ide.img",
            "-drive", "file=virtio.img,if=virtio,boot=on", "-enable-kvm");

        Assert.That(ide.ExitCode, Is.Zero, ide.Stderr);
        Assert.That(ide.Stdout, Is.EqualTo("I"));
        Assert.That(virtio.ExitCode, Is.Zero, virtio.Stderr);
        Assert.That(virtio.Stdout, Is.EqualTo("V"));
    }

    private static void Assemble(TempDir dir, string name, char letter)
    {
        File.WriteAllText(dir[name + ".asm"], $"""
            bits 16
            org 0x7c00
                mov ax, 0x0e00 + '{letter}'
                int 0x10
                cli
                hlt
            times 510-($-$$) db 0
            dw 0xaa55
            """);
        Tools.Run("nasm", "-f", "bin", "-o", dir[name], dir[name + ".asm"]).Ok();
    }
}
