namespace ImageTool.Kvm.Tests.Support;

/// <summary>nasm fragments the boot-sector guests share (16-bit, org 0x7c00).</summary>
public static class RealMode
{
    /// <summary>Zeroes DS/ES/SS and puts the stack below the boot sector.</summary>
    public const string Setup = """
            cli
            xor ax, ax
            mov ds, ax
            mov es, ax
            mov ss, ax
            mov sp, 0x7c00
            sti
        """;

    /// <summary>
    /// <c>fail:</c> prints the string at <c>s_fail</c>; <c>halt:</c> stops for good; <c>puts</c> prints the
    /// NUL-terminated string at SI through INT 10h AH=0Eh.
    /// </summary>
    public const string FailHaltPuts = """
        fail:
            mov si, s_fail
            call puts
        halt:
            cli
            hlt
            jmp halt
        puts:
            lodsb
            test al, al
            jz .r
            mov ah, 0x0e
            mov bx, 7
            int 0x10
            jmp puts
        .r: ret
        """;
}
