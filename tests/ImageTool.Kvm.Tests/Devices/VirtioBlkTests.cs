using System.Security.Cryptography;
using ImageTool.Kvm.Tests.Support;

namespace ImageTool.Kvm.Tests.Devices;

public class VirtioBlkTests
{
    // A bare-metal legacy virtio-blk driver (real mode, 32-bit registers; the boot sector loads the rest with
    // INT 13h): finds 1af4:1001 through PCI conf1, sets up queue 0 at 0xB000, reads sector 0, checks the ISR,
    // writes sector 1 and reads it back, printing on COM1.
    private const string Driver = """
        bits 16
        org 0x7c00
        RING  equ 0xB000
        AVAIL equ RING + 16 * 128
        USED  equ 0xC000
        HDR   equ 0xA000
        STAT  equ 0xA100
        DATA  equ 0xA200
        DATA2 equ 0xA400
        DATA3 equ 0xA600
            cli
            xor ax, ax
            mov ds, ax
            mov es, ax
            mov ss, ax
            mov sp, 0x7c00
            mov ax, 0x0202
            mov cx, 0x0002
            xor dh, dh
            mov bx, 0x7e00
            int 0x13
            jmp main
            times 510-($-$$) db 0
            dw 0xaa55
        main:
            mov byte [step], 'P'
            mov ebx, 0x80000800
        .scan:
            mov eax, ebx
            mov dx, 0xcf8
            out dx, eax
            mov dx, 0xcfc
            in eax, dx
            cmp eax, 0x10011af4
            je .found
            add ebx, 0x800
            cmp ebx, 0x80010000
            jb .scan
            jmp fail
        .found:
            lea eax, [ebx + 0x10]
            mov dx, 0xcf8
            out dx, eax
            mov dx, 0xcfc
            in eax, dx
            and ax, 0xfffc
            mov [iobase], ax
            mov byte [step], 'Q'
            mov dx, [iobase]
            add dx, 0x12
            xor al, al
            out dx, al
            mov al, 3
            out dx, al
            mov dx, [iobase]
            add dx, 0x0e
            xor ax, ax
            out dx, ax
            mov dx, [iobase]
            add dx, 0x0c
            in ax, dx
            cmp ax, 128
            jne fail
            mov di, RING
            mov cx, 0x2000
            xor al, al
            rep stosb
            mov dx, [iobase]
            add dx, 8
            mov eax, RING >> 12
            out dx, eax
            mov dx, [iobase]
            add dx, 0x12
            mov al, 7
            out dx, al
            mov byte [step], 'R'
            xor ebp, ebp
            xor ecx, ecx
            mov edi, DATA
            call request
            mov dx, [iobase]
            add dx, 0x13
            in al, dx
            test al, 1
            jz fail
            mov byte [DATA + 24], 0
            mov si, s_read
            call puts
            mov si, DATA
            call puts
            mov byte [step], 'W'
            mov di, DATA2
            mov cx, 512
            xor al, al
            rep stosb
            mov si, pattern
            mov di, DATA2
            mov cx, 16
            rep movsb
            mov ebp, 1
            mov ecx, 1
            mov edi, DATA2
            call request
            mov byte [step], 'B'
            xor ebp, ebp
            mov ecx, 1
            mov edi, DATA3
            call request
            mov si, s_back
            call puts
            mov si, DATA3
            call puts
            mov si, s_done
            call puts
            jmp halt
        fail:
            mov si, s_fail
            call puts
        halt:
            cli
            hlt
            jmp halt
        ; ebp = type (0 in, 1 out), ecx = sector, edi = 512-byte buffer; descriptors 0-2
        request:
            mov [HDR], ebp
            mov dword [HDR + 4], 0
            mov [HDR + 8], ecx
            mov dword [HDR + 12], 0
            mov dword [RING], HDR
            mov dword [RING + 4], 0
            mov dword [RING + 8], 16
            mov dword [RING + 12], 0x00010001
            mov [RING + 16], edi
            mov dword [RING + 20], 0
            mov dword [RING + 24], 512
            mov ax, 1
            test ebp, ebp
            jnz .out
            or ax, 2
        .out:
            mov [RING + 28], ax
            mov word [RING + 30], 2
            mov dword [RING + 32], STAT
            mov dword [RING + 36], 0
            mov dword [RING + 40], 1
            mov dword [RING + 44], 2
            mov byte [STAT], 0xff
            mov bx, [AVAIL + 2]
            mov si, bx
            and si, 127
            shl si, 1
            mov word [AVAIL + 4 + si], 0
            inc bx
            mov [AVAIL + 2], bx
            mov dx, [iobase]
            add dx, 0x10
            xor ax, ax
            out dx, ax
            cmp [USED + 2], bx
            jne fail
            cmp byte [STAT], 0
            jne fail
            ret
        puts:
            lodsb
            test al, al
            jz .r
            mov dx, 0x3f8
            out dx, al
            jmp puts
        .r: ret
        iobase: dw 0
        pattern: db "VIRTIO-WRITE-OK", 0
        s_read: db "virtio read: ", 0
        s_back: db 13, 10, "virtio read back: ", 0
        s_done: db 13, 10, "VIRTIO DONE", 13, 10, 0
        s_fail: db 13, 10, "VIRTIO FAILED at step "
        step: db "0", 13, 10, 0
        times 1536-($-$$) db 0
        """;

    private static (string Boot, string Base) MakeImages(TempDir dir)
    {
        Images.WriteRaw(dir["boot.raw"], 1 << 20, (0, Guest.Assemble(dir, "virtio", Driver)));
        Images.WriteRaw(dir["data.raw"], 8 << 20, (0, Images.Text("BASE SECTOR ZERO VIA PCI")));
        return (dir["boot.raw"], dir["data.raw"]);
    }

    [TestCase("raw")]
    [TestCase("qcow2")]
    [TestCase("vmdk")]
    [TestCase("qcow")]
    public void Run_BareMetalDriver_ReadsAndWritesThroughTheChain(string format)
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        var (boot, baseImage) = MakeImages(dir);
        string disk = Images.Disk(dir, baseImage, format);
        byte[] baseBefore = File.ReadAllBytes(baseImage);

        var result = Guest.Run(["-hda", boot, "-drive", $"file={disk},format={format},if=virtio"]);

        Assert.That(result.Output, Does.Contain("virtio read: BASE SECTOR ZERO VIA PCI\r\nvirtio read back: VIRTIO-WRITE-OK\r\nVIRTIO DONE"));
        Assert.That(Images.Sector(Images.ReadWithQemu(dir, disk), 1, 15), Is.EqualTo("VIRTIO-WRITE-OK"));
        if (format != "raw") Assert.That(File.ReadAllBytes(baseImage), Is.EqualTo(baseBefore), "the backing file was written");
    }

    [Test]
    public void Run_BareMetalDriverUnderSnapshot_LeavesTheImageUntouched()
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        var (boot, disk) = MakeImages(dir);
        string before = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(disk)));

        var result = Guest.Run(["-hda", boot, "-drive", $"file={disk},format=raw,if=virtio", "-snapshot"]);

        Assert.That(result.Output, Does.Contain("virtio read back: VIRTIO-WRITE-OK\r\nVIRTIO DONE"));
        Assert.That(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(disk))), Is.EqualTo(before));
    }

    [Test]
    public void Run_ReadOnlyVirtioDisk_RejectsTheWrite()
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        var (boot, disk) = MakeImages(dir);

        var result = Guest.Run(["-hda", boot, "-drive", $"file={disk},format=raw,if=virtio,readonly=on"]);

        Assert.That(result.Output, Does.Contain("virtio read: BASE SECTOR ZERO VIA PCI\r\nVIRTIO FAILED at step W"));
    }
}
