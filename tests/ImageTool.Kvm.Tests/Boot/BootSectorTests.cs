using ImageTool.Kvm.Interop;
using ImageTool.Kvm.Tests.Support;

namespace ImageTool.Kvm.Tests.Boot;

public class BootSectorTests
{
    private const string HelloSector = """
        bits 16
        org 0x7c00
            xor ax, ax
            mov ds, ax
            mov si, msg1
        .bios:
            lodsb
            test al, al
            jz .serial
            mov ah, 0x0e
            mov bx, 7
            int 0x10
            jmp .bios
        .serial:
            mov si, msg2
            mov dx, 0x3f8
        .s:
            lodsb
            test al, al
            jz .done
            out dx, al
            jmp .s
        .done:
            cli
            hlt
            jmp .done
        msg1: db "Hello from INT 10h", 13, 10, 0
        msg2: db "Hello from COM1", 13, 10, 0
        times 510-($-$$) db 0
        dw 0xaa55
        """;

    [Test]
    public void Run_BootSectorPrintingThroughBiosAndSerial_ShowsBothAndExitsWhenHalted()
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        File.WriteAllBytes(dir["hello.img"], Guest.Assemble(dir, "hello", HelloSector));

        var result = Guest.Run(["-hda", dir["hello.img"], "-nographic"]);

        Assert.That(result.ExitCode, Is.Zero);
        Assert.That(result.Output, Is.EqualTo("Hello from INT 10h\r\nHello from COM1\r\n"));
    }

    [Test]
    public void Run_DiskWithoutBootSignature_FailsWithMessageNamingTheDisk()
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        File.WriteAllBytes(dir["blank.img"], new byte[1 << 20]);

        var e = Assert.Throws<KvmBootException>(() => Guest.Run(["-hda", dir["blank.img"]]));

        Assert.That(e!.Message, Does.Contain("blank.img").And.Contain("no boot signature"));
    }

    [Test]
    public void Run_GuestThatTripleFaults_FailsWithTripleFaultMessage()
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        // Protected mode with an empty IDT: INT 3 raises #GP, then a double fault, then the CPU shuts down.
        File.WriteAllBytes(dir["crash.img"], Guest.Assemble(dir, "crash", """
            bits 16
            org 0x7c00
                cli
                lgdt [cs:gdtr]
                lidt [cs:idt]
                mov eax, cr0
                or al, 1
                mov cr0, eax
                jmp 0x08:pm
            bits 32
            pm:
                int3
            align 8
            gdt: dq 0
                 dq 0x00cf9a000000ffff
            gdtr: dw 15
                  dd gdt
            idt: dw 0
                 dd 0
            times 510-($-$$) db 0
            dw 0xaa55
            """));

        var e = Assert.Throws<KvmException>(() => Guest.Run(["-hda", dir["crash.img"]]));

        Assert.That(e!.Message, Does.StartWith("Guest triple fault"));
    }

    [Test]
    public void Run_MissingImage_FailsWithQemuStyleOpenError()
    {
        using var dir = new TempDir();

        var e = Assert.Throws<ImageFormatException>(() => Guest.Run(["-hda", dir["missing.img"]]));

        Assert.That(e!.Message, Does.StartWith($"Could not open '{dir["missing.img"]}'").And.Contain("No such file or directory"));
    }

    [TestCase("-fda", "-fda: invalid option")]
    [TestCase("-boot", "-boot: requires an argument")]
    [TestCase("-m", "-m: requires an argument")]
    public void Parse_BadOption_ThrowsArgumentExceptionWithQemuWording(string option, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => RunOptions.Parse(["-hda", "x.img", option]));

        Assert.That(e!.Message, Is.EqualTo(message));
    }

    [Test]
    public void Parse_QemuSpelling_BuildsDrivesInBiosOrder()
    {
        var options = RunOptions.Parse(["-m", "256", "-cdrom", "cd.iso", "-hdb", "b.qcow2", "-hda", "a.img", "-boot", "d",
            "-drive", "file=v.qcow2,format=qcow2,if=virtio,readonly=on", "-snapshot", "-nographic", "-serial", "stdio"]);

        Assert.That(options.Memory, Is.EqualTo(256L << 20));
        Assert.That(options.Boot, Is.EqualTo('d'));
        Assert.That(options.Snapshot, Is.True);
        Assert.That(options.Drives, Is.EqualTo(new[]
        {
            new DriveSpec("a.img"),
            new DriveSpec("b.qcow2"),
            new DriveSpec("cd.iso", IsCdrom: true),
            new DriveSpec("v.qcow2", "qcow2", DriveInterface.Virtio, ReadOnly: true),
        }));
    }

    [Test]
    public void Parse_DriveOptionList_DoubledCommaIsPartOfTheFileName()
    {
        var options = RunOptions.Parse(["-drive", "file=a,,b.img,format=raw,,,if=virtio"]);

        Assert.That(options.Drives.Single(), Is.EqualTo(new DriveSpec("a,b.img", "raw,", DriveInterface.Virtio)));
    }

    [TestCase("file=x.img,bogus=1", "-drive file=x.img,bogus=1: Invalid parameter 'bogus'")]
    [TestCase("file=x.img,readonly=maybe", "-drive file=x.img,readonly=maybe: Parameter 'readonly' expects 'on' or 'off'")]
    [TestCase("format=raw", "-drive format=raw: a file= is required")]
    public void Parse_BadDrive_NamesTheOptionList(string value, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => RunOptions.Parse(["-drive", value]));

        Assert.That(e!.Message, Is.EqualTo(message));
    }
}
