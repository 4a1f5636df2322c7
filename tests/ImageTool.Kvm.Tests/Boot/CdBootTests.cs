using ImageTool.Kvm.Tests.Support;

namespace ImageTool.Kvm.Tests.Boot;

public class CdBootTests
{
    // A no-emulation El Torito boot image: checks DL = 0xE0, INT 13h AH=41h and AX=4B01h, reads the ISO's primary
    // volume descriptor (2048-byte sector 16) with AH=42h and prints its "CD001" identifier.
    private const string CdBootImage = """
        bits 16
        org 0
            jmp 0x07c0:start
        start:
            mov ax, cs
            mov ds, ax
            xor ax, ax
            mov ss, ax
            mov sp, 0x7c00
            mov [drive], dl
            mov si, s_hello
            call puts
            cmp byte [drive], 0xe0
            jne fail
            mov ah, 0x41
            mov bx, 0x55aa
            mov dl, [drive]
            int 0x13
            jc fail
            mov ax, 0x4b01
            mov si, spec
            mov dl, [drive]
            int 0x13
            jc fail
            cmp byte [spec + 2], 0xe0
            jne fail
            mov si, dap
            mov ah, 0x42
            mov dl, [drive]
            int 0x13
            jc fail
            push ds
            mov ax, 0x1000
            mov ds, ax
            mov si, 1
            mov byte [6], 0
            call puts
            pop ds
            mov si, s_done
            call puts
        halt:
            cli
            hlt
            jmp halt
        fail:
            mov si, s_fail
            call puts
            jmp halt
        puts:
            lodsb
            test al, al
            jz .r
            mov ah, 0x0e
            int 0x10
            jmp puts
        .r: ret
        drive: db 0
        dap: db 16, 0
            dw 1, 0, 0x1000
            dq 16
        spec: times 0x13 db 0
        s_hello: db "El Torito: ", 0
        s_fail: db "CD FAILED", 13, 10, 0
        s_done: db 13, 10, "CD DONE", 13, 10, 0
        times 2048-($-$$) db 0
        """;

    [Test]
    public void Run_NoEmulationCdWithBootD_BootsAndReadsTwoKiBSectors()
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["root"]);
        File.WriteAllBytes(dir["root/boot.bin"], Guest.Assemble(dir, "cdboot", CdBootImage));
        Tools.Run("xorriso", "-as", "mkisofs", "-quiet", "-o", dir["cd.iso"], "-b", "boot.bin", "-no-emul-boot",
            "-boot-load-size", "4", dir["root"]).Ok();

        var result = Guest.Run(["-cdrom", dir["cd.iso"], "-boot", "d"]);

        Assert.That(result.ExitCode, Is.Zero);
        Assert.That(result.Output, Is.EqualTo("El Torito: CD001\r\nCD DONE\r\n"));
    }

    [Test]
    public void Run_CdWithoutElTorito_FailsAsNotBootable()
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["root"]);
        File.WriteAllText(dir["root/readme.txt"], "no boot record here");
        Tools.Run("xorriso", "-as", "mkisofs", "-quiet", "-o", dir["plain.iso"], dir["root"]).Ok();

        var e = Assert.Throws<KvmBootException>(() => Guest.Run(["-cdrom", dir["plain.iso"], "-boot", "d"]));

        Assert.That(e!.Message, Is.EqualTo($"'{dir["plain.iso"]}' is not a bootable CD: it has no El Torito boot record"));
    }
}
