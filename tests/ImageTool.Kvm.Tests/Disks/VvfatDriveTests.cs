using System.Text;
using ImageTool.Kvm.Tests.Support;

namespace ImageTool.Kvm.Tests.Disks;

/// <summary><c>img run -hdb fat:floppy:DIR</c>: the guest reads a host folder as a FAT disk (qemu's vvfat) through INT 13h; a floppy-sized one keeps the reference copy small.</summary>
public class VvfatDriveTests
{
    // Reads LBA `lba` of drive 0x81 with AH=42h and prints it up to the first NUL.
    private static string ReadSectorProgram(long lba) => $$"""
        bits 16
        org 0x7c00
        {{RealMode.Setup}}
            mov si, dap
            mov ah, 0x42
            mov dl, 0x81
            int 0x13
            jc fail
            mov si, s_got
            call puts
            mov si, 0x8000
            call puts
            mov si, s_end
            call puts
            jmp halt
        {{RealMode.FailHaltPuts}}
        dap: db 16, 0
            dw 1, 0x8000, 0
            dq {{lba}}
        s_got: db "FAT SECTOR: ", 0
        s_end: db 13, 10, "FAT DONE", 13, 10, 0
        s_fail: db "FAT READ FAILED", 13, 10, 0
        times 510-($-$$) db 0
        dw 0xaa55
        """;

    [Test]
    public void Run_FatDirectoryAsSecondDisk_GuestReadsTheHostFile()
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        string folder = Path.Combine(dir.Path, "shared");
        Directory.CreateDirectory(folder);
        const string content = "hello from the host folder";
        File.WriteAllText(Path.Combine(folder, "HELLO.TXT"), content);
        // Where the file's first cluster lands: find it in qemu-img's own view of the same folder.
        byte[] flat = Images.ReadWithQemu(dir, "fat:floppy:" + folder);
        int at = flat.AsSpan().IndexOf(Encoding.ASCII.GetBytes(content));
        Assert.That(at, Is.GreaterThan(0).And.Matches<int>(x => x % 512 == 0), "qemu-img's vvfat holds the file at a sector start");
        string boot = dir["boot.raw"];
        Images.WriteRaw(boot, 1 << 20, (0, Guest.Assemble(dir, "fatread", ReadSectorProgram(at / 512))));

        var result = Guest.Run(["-hda", boot, "-hdb", "fat:floppy:" + folder]);

        Assert.That(result.Output, Does.Contain($"FAT SECTOR: {content}\r\nFAT DONE"));
        Assert.That(File.ReadAllText(Path.Combine(folder, "HELLO.TXT")), Is.EqualTo(content));
    }
}
