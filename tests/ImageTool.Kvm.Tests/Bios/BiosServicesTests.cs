using ImageTool.Kvm.Tests.Support;

namespace ImageTool.Kvm.Tests.Bios;

public class BiosServicesTests
{
    // Calls INT 12h, 11h, 15h (E820 walk, 88h, E801h, 2402h, C0h), 1Ah AH=04h, 16h AH=00h/01h, reads COM1's
    // receive register, and prints each result as hex through INT 10h.
    private const string Program = """
        bits 16
        org 0x7c00
            xor ax, ax
            mov ds, ax
            mov es, ax
            mov ss, ax
            mov sp, 0x7c00
            sti
            mov ax, 0x0202
            mov cx, 0x0002
            xor dh, dh
            mov bx, 0x7e00
            int 0x13
            jmp main
            times 510-($-$$) db 0
            dw 0xaa55
        main:
            mov si, s_m12
            call puts
            int 0x12
            call hex
            mov si, s_m11
            call puts
            int 0x11
            call hex
            xor ebx, ebx
            xor bp, bp
        .e820:
            mov eax, 0xe820
            mov ecx, 24
            mov edx, 0x534d4150
            mov di, 0x9000
            int 0x15
            jc .e820done
            inc bp
            test ebx, ebx
            jnz .e820
        .e820done:
            mov si, s_e820
            call puts
            mov ax, bp
            call hex
            mov si, s_88
            call puts
            mov ah, 0x88
            int 0x15
            call hex
            mov si, s_e801
            call puts
            mov ax, 0xe801
            int 0x15
            push bx
            call hex
            mov si, s_comma
            call puts
            pop ax
            call hex
            mov si, s_a20
            call puts
            mov ax, 0x2402
            int 0x15
            xor ah, ah
            call hex
            mov si, s_c0
            call puts
            push es
            mov ah, 0xc0
            int 0x15
            mov al, [es:bx + 2]
            pop es
            xor ah, ah
            call hex
            mov si, s_rtc
            call puts
            mov ah, 0x04
            int 0x1a
            mov al, ch
            xor ah, ah
            call hex
            mov si, s_key
            call puts
            xor ah, ah
            int 0x16
            call hex
            mov si, s_ser
            call puts
            mov dx, 0x3fd
        .wait:
            in al, dx
            test al, 1
            jz .wait
            mov dx, 0x3f8
            in al, dx
            xor ah, ah
            call hex
            mov si, s_peek
            call puts
            mov ah, 0x01
            int 0x16
            mov al, 'Z'
            jz .z
            mov al, 'N'
        .z: mov ah, 0x0e
            int 0x10
            mov si, s_end
            call puts
        .halt:
            cli
            hlt
            jmp .halt
        hex:
            mov cx, 4
        .h: rol ax, 4
            push ax
            and al, 0x0f
            add al, '0'
            cmp al, '9'
            jbe .d
            add al, 7
        .d: mov ah, 0x0e
            push cx
            int 0x10
            pop cx
            pop ax
            loop .h
            ret
        puts:
            lodsb
            test al, al
            jz .r
            mov ah, 0x0e
            int 0x10
            jmp puts
        .r: ret
        s_m12: db "M12=", 0
        s_m11: db " M11=", 0
        s_e820: db " E820=", 0
        s_88: db " X88=", 0
        s_e801: db " E801=", 0
        s_comma: db ",", 0
        s_a20: db " A20=", 0
        s_c0: db " C0=", 0
        s_rtc: db " RTC=", 0
        s_key: db 13, 10, "KEY=", 0
        s_ser: db " SER=", 0
        s_peek: db " PEEK=", 0
        s_end: db 13, 10, 0
        times 1536-($-$$) db 0
        """;

    [Test]
    public void Run_ServiceCalls_ReportMemoryEquipmentClockAndConsoleInput()
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        Images.WriteRaw(dir["bios.raw"], 1 << 20, (0, Guest.Assemble(dir, "bios", Program)));

        var result = Guest.Run(["-m", "32", "-hda", dir["bios.raw"], "-snapshot"], input: "ks");

        // 639 KiB base; serial+80x25+FPU; 4 E820 entries; 31 MiB above 1 MiB; E801: 15 MiB + 256 x 64 KiB;
        // A20 on; model FC; century 20; 'k' is scan code 25h; 's' arrives on COM1; nothing left for INT 16h.
        Assert.That(result.Output, Is.EqualTo(
            "M12=027F M11=0222 E820=0004 X88=7C00 E801=3C00,0100 A20=0001 C0=00FC RTC=0020\r\nKEY=256B SER=0073 PEEK=Z\r\n"));
    }
}
