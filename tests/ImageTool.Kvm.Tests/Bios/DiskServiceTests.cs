using System.Security.Cryptography;
using ImageTool.Kvm.Tests.Support;

namespace ImageTool.Kvm.Tests.Bios;

public class DiskServiceTests
{
    // Reads LBA 1 with AH=42h and LBA 2 with AH=02h (CHS 0/0/3), checks AH=41h/08h/48h, writes LBA 3 with AH=43h
    // and LBA 4 with AH=03h (CHS 0/0/5), reads both back and prints everything through INT 10h.
    private const string Int13Program = $"""
        bits 16
        org 0x7c00
        {RealMode.Setup}
            mov [drive], dl
            mov byte [step], '1'
            mov ah, 0x41
            mov bx, 0x55aa
            mov dl, [drive]
            int 0x13
            jc fail
            cmp bx, 0xaa55
            jne fail
            mov byte [step], '2'
            mov si, dap
            mov ah, 0x42
            mov dl, [drive]
            int 0x13
            jc fail
            mov si, s_lba
            call puts
            mov si, 0x8000
            call puts
            mov byte [step], '3'
            mov ax, 0x0201
            mov cx, 0x0003
            xor dh, dh
            mov dl, [drive]
            mov bx, 0x8200
            int 0x13
            jc fail
            mov si, s_chs
            call puts
            mov si, 0x8200
            call puts
            mov byte [step], '4'
            mov ah, 0x08
            mov dl, [drive]
            int 0x13
            jc fail
            cmp dh, 254
            jne fail
            and cl, 0x3f
            cmp cl, 63
            jne fail
            mov byte [step], '5'
            mov word [0x9000], 30
            mov si, 0x9000
            mov ah, 0x48
            mov dl, [drive]
            int 0x13
            jc fail
            cmp dword [0x9000 + 16], 8192
            jne fail
            mov byte [step], '6'
            mov word [dap + 4], w_lba
            mov dword [dap + 8], 3
            mov si, dap
            mov ah, 0x43
            mov dl, [drive]
            int 0x13
            jc fail
            mov byte [step], '7'
            mov ax, 0x0301
            mov cx, 0x0005
            xor dh, dh
            mov dl, [drive]
            mov bx, w_chs
            int 0x13
            jc fail
            mov byte [step], '8'
            mov word [dap + 4], 0x8400
            mov si, dap
            mov ah, 0x42
            mov dl, [drive]
            int 0x13
            jc fail
            mov ax, 0x0201
            mov cx, 0x0005
            xor dh, dh
            mov dl, [drive]
            mov bx, 0x8600
            int 0x13
            jc fail
            mov si, s_back
            call puts
            mov si, 0x8400
            call puts
            mov si, s_and
            call puts
            mov si, 0x8600
            call puts
            mov si, s_done
            call puts
            jmp halt
        {RealMode.FailHaltPuts}
        drive: db 0
        dap: db 16, 0
            dw 1, 0x8000, 0
            dq 1
        s_lba: db "LBA read: ", 0
        s_chs: db 13, 10, "CHS read: ", 0
        s_back: db 13, 10, "read back: ", 0
        s_and: db " + ", 0
        s_done: db 13, 10, "INT13 DONE", 13, 10, 0
        s_fail: db 13, 10, "INT13 FAILED at step "
        step: db "0", 13, 10, 0
        w_lba: db "LBA-WRITE-OK", 0
        w_chs: db "CHS-WRITE-OK", 0
        times 510-($-$$) db 0
        dw 0xaa55
        """;

    private static string MakeBase(TempDir dir)
    {
        string path = dir["base.raw"];
        Images.WriteRaw(path, 4 << 20,
            (0, Guest.Assemble(dir, "int13", Int13Program)),
            (1, Images.Text("sector one")),
            (2, Images.Text("sector two")));
        return path;
    }

    [TestCase("raw")]
    [TestCase("qcow2")]
    [TestCase("vmdk")]
    [TestCase("qcow")]
    public void Run_Int13ReadsAndWrites_WritesLandInTheTopImageOnly(string format)
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        string baseImage = MakeBase(dir);
        string disk = Images.Disk(dir, baseImage, format);
        byte[] baseBefore = File.ReadAllBytes(baseImage);

        var result = Guest.Run(["-hda", disk]);

        Assert.That(result.Output, Does.Contain("LBA read: sector one\r\nCHS read: sector two\r\n"
            + "read back: LBA-WRITE-OK + CHS-WRITE-OK\r\nINT13 DONE"));
        byte[] seen = Images.ReadWithQemu(dir, disk);
        Assert.That(Images.Sector(seen, 3, 12), Is.EqualTo("LBA-WRITE-OK"));
        Assert.That(Images.Sector(seen, 4, 12), Is.EqualTo("CHS-WRITE-OK"));
        if (format != "raw") Assert.That(File.ReadAllBytes(baseImage), Is.EqualTo(baseBefore), "the backing file was written");
    }

    [TestCase("raw")]
    [TestCase("qcow2")]
    [TestCase("vmdk")]
    public void Run_Int13WritesUnderSnapshot_GuestSeesThemButNoFileChanges(string format)
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        string baseImage = MakeBase(dir);
        string disk = Images.Disk(dir, baseImage, format);
        string[] before = [Hash(baseImage), Hash(disk)];

        var result = Guest.Run(["-hda", disk, "-snapshot"]);

        Assert.That(result.Output, Does.Contain("read back: LBA-WRITE-OK + CHS-WRITE-OK\r\nINT13 DONE"));
        Assert.That(new[] { Hash(baseImage), Hash(disk) }, Is.EqualTo(before));
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
