using ImageTool.Kvm.Tests.Support;

namespace ImageTool.Kvm.Tests.Bios;

public class VideoServiceTests
{
    // Teletype "A"; AH=13h "Hello" at row 2, column 4; AH=02h to 3/0 and AH=09h "X"; AH=02h to 3/2, then AH=03h
    // and the cursor position printed as digits by teletype.
    private const string Program = """
        bits 16
        org 0x7c00
            xor ax, ax
            mov ds, ax
            mov es, ax
            mov ax, 0x0e41
            int 0x10
            mov ax, 0x1301
            mov bx, 0x0007
            mov cx, 5
            mov dx, 0x0204
            mov bp, hello
            int 0x10
            mov ah, 0x02
            xor bh, bh
            mov dx, 0x0300
            int 0x10
            mov ax, 0x0958
            mov bx, 0x001f
            mov cx, 1
            int 0x10
            mov ah, 0x02
            mov dx, 0x0302
            int 0x10
            mov ah, 0x03
            int 0x10
            push dx
            mov al, dh
            add al, '0'
            mov ah, 0x0e
            int 0x10
            pop dx
            mov al, dl
            add al, '0'
            mov ah, 0x0e
            int 0x10
            mov ax, 0x0e0d
            int 0x10
            mov ax, 0x0e0a
            int 0x10
            cli
            hlt
        hello: db "Hello"
        times 510-($-$$) db 0
        dw 0xaa55
        """;

    [Test]
    public void Run_PositionedWrites_AreMirroredAsPlainText()
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        Images.WriteRaw(dir["video.raw"], 1 << 20, (0, Guest.Assemble(dir, "video", Program)));

        var result = Guest.Run(["-hda", dir["video.raw"], "-snapshot"]);

        Assert.That(result.Output, Is.EqualTo("A\r\n\r\n    Hello\r\nX 32\r\n"));
    }
}
