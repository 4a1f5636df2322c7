using ImageTool.Kvm.Machine;
using ImageTool.Kvm.Tests.Support;

namespace ImageTool.Kvm.Tests.Machine;

public class SyscallHookTests
{
    // A tiny "bzImage" (boot protocol header, 64-bit entry at 1 MiB + 0x200) laid out like Linux: kernel mapped
    // at 0xffffffff80000000 (supervisor), user code at 4 MiB (user page), GDT with Linux's selectors and a TSS,
    // an IDT whose #PF handler starts with a 3-byte NOP (Linux's ASM_CLAC), STAR/LSTAR/SFMASK. The kernel drops
    // to user mode with IRETQ; the user code makes two SYSCALLs (the entry prints S, RAX and its CPL, then
    // SYSRETs) and then touches an unmapped page, whose #PF handler prints P and the faulting CPL and halts.
    private const string Kernel = """
        bits 64
        HIGH  equ 0xffffffff80000000
        PML4  equ 0x10000
        PDPT  equ 0x11000
        PD    equ 0x12000
        IDT   equ 0x13000
        TSS   equ 0x8000
        USER  equ 0x400000
        org 0x100000 - 0x400
            times 0x1f1-($-$$) db 0
            db 1                            ; setup_sects
            times 0x201-($-$$) db 0
            db 0x66                         ; the setup header ends at 0x268
            db "HdrS"
            dw 0x020f                       ; boot protocol 2.15
            times 0x236-($-$$) db 0
            dw 1                            ; XLF_KERNEL_64
            dd 255                          ; cmdline_size
            times 0x260-($-$$) db 0
            dd 0x100000                     ; init_size
            times 0x400-($-$$) db 0
        kernel:
            times 0x200 db 0
        start:
            mov qword [PML4], PDPT | 7
            mov qword [PML4 + 511 * 8], PDPT | 7
            mov qword [PDPT], PD | 7
            mov qword [PDPT + 510 * 8], PD | 7
            mov qword [PD], 0x000083        ; 0-2 MiB: kernel (supervisor)
            mov qword [PD + 8], 0x200083
            mov qword [PD + 16], USER | 0x87 ; 4-6 MiB: user
            mov rax, PML4
            mov cr3, rax
            mov rax, HIGH + high
            jmp rax
        high:
            mov rsp, HIGH + 0x90000
            lgdt [gdtr]
            mov qword [TSS + 4], 0x90000    ; RSP0
            mov word [TSS + 0x66], 0x68     ; no I/O bitmap
            mov ax, 0x30
            ltr ax
            mov rdi, 13
            mov rax, HIGH + gp
            call set_gate
            mov rdi, 14
            mov rax, HIGH + pf
            call set_gate
            lidt [idtr]
            mov ecx, 0xC0000080             ; EFER.SCE
            rdmsr
            or eax, 1
            wrmsr
            mov ecx, 0xC0000081             ; STAR: SYSRET base 0x1b (SS 0x23, CS 0x2b), SYSCALL CS 0x10
            xor eax, eax
            mov edx, (0x1b << 16) | 0x10
            wrmsr
            mov ecx, 0xC0000082             ; LSTAR
            mov rax, HIGH + syscall_entry
            mov rdx, rax
            shr rdx, 32
            wrmsr
            mov ecx, 0xC0000084             ; SFMASK
            mov eax, 0x47700
            xor edx, edx
            wrmsr
            mov rsi, user_code
            mov rdi, USER
            mov rcx, user_end - user_code
            rep movsb
            mov al, 'K'
            out 0xe9, al
            push 0x23                       ; SS
            push USER + 0x80000             ; RSP
            push 0x2                        ; RFLAGS
            push 0x2b                       ; CS
            push USER                       ; RIP
            iretq

        set_gate:                           ; RDI vector, RAX handler
            shl rdi, 4
            add rdi, IDT
            mov [rdi], ax
            mov word [rdi + 2], 0x10
            mov word [rdi + 4], 0x8e00
            shr rax, 16
            mov [rdi + 6], ax
            shr rax, 16
            mov [rdi + 8], eax
            mov dword [rdi + 12], 0
            ret

        syscall_entry:
            mov bl, al
            mov al, 'S'
            out 0xe9, al
            mov al, bl
            add al, '0'
            out 0xe9, al
            mov ax, cs
            and al, 3
            add al, '0'
            out 0xe9, al
            o64 sysret

        pf:
            nop dword [rax]
            mov al, 'P'
            out 0xe9, al
            mov rax, [rsp + 16]             ; CS of the fault
            and al, 3
            add al, '0'
            out 0xe9, al
            mov al, 10
            out 0xe9, al
            cli
            hlt

        gp:
            mov al, 'G'
            out 0xe9, al
            cli
            hlt

        user_code:
            mov eax, 1
            syscall
            mov eax, 2
            syscall
            mov rbx, [0x700000]             ; not mapped: #PF from user mode
            hlt
        user_end:

        align 8
        gdt:
            dq 0, 0
            dq 0x00AF9B000000FFFF           ; 0x10 kernel code
            dq 0x00CF93000000FFFF           ; 0x18 kernel data
            dq 0x00CFF3000000FFFF           ; 0x23 user data
            dq 0x00AFFB000000FFFF           ; 0x2b user code
            dq 0x0000890000000067 | (TSS << 16), 0 ; 0x30 TSS
        gdt_end:
        gdtr:
            dw gdt_end - gdt - 1
            dq HIGH + gdt
        idtr:
            dw 256 * 16 - 1
            dq HIGH + IDT
        """;

    [Test]
    public void Run_UserModeSyscalls_ReachTheKernelAtCpl0AndReturn()
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        Guest.Assemble(dir, "kernel", Kernel);

        var result = Guest.Run(["-m", "16", "-kernel", dir["kernel.bin"]], timeoutSeconds: 30);

        Assert.That(result.Output, Is.EqualTo("KS10S20P3\n"));
        Assert.That(result.ExitCode, Is.Zero);
    }

    [TestCase("90", 1, 0x0UL)]
    [TestCase("6690", 2, 0x0UL)]
    [TestCase("0f1f00", 3, 0x0UL)]
    [TestCase("0f1f4000", 4, 0x0UL)]
    [TestCase("660f1f440000", 6, 0x0UL)]
    [TestCase("f30f1efa", 4, 0x0UL)]
    [TestCase("0f01ca", 3, 0x40000UL)]
    [TestCase("fc", 1, 0x400UL)]
    [TestCase("6a0e", 0, 0x0UL)]
    [TestCase("e8000000", 0, 0x0UL)]
    public void DisplaceableLength_LinuxEntryInstructions(string hex, int length, ulong cleared)
    {
        var code = new byte[16];
        Convert.FromHexString(hex).CopyTo(code, 0);

        Assert.That(SyscallHook.DisplaceableLength(code, out ulong flags), Is.EqualTo(length));
        Assert.That(flags, Is.EqualTo(cleared));
    }
}
