using System.Net;
using System.Net.Sockets;
using ImageTool.Kvm.Tests.Support;

namespace ImageTool.Kvm.Tests.Network;

/// <summary>
/// The network micro guest (NETWORK.md §3.2), built with nasm at test time as a 1 MiB raw disk that boots under
/// <c>img run</c> and under qemu-system-x86_64 alike, and the host side of its two TCP sessions.
/// </summary>
internal static class NetGuest
{
    /// <param name="dir">Where the image goes.</param>
    /// <param name="model">qemu's model name: virtio, e1000 or ne2k_pci.</param>
    /// <param name="port">The host port the guest connects to through 10.0.2.2.</param>
    /// <param name="sendBytes">Bytes each side sends in each session.</param>
    /// <param name="serverSendBytes">Bytes the guest sends in the hostfwd session, when not <paramref name="sendBytes"/>.</param>
    public static string Build(TempDir dir, string model, int port, int sendBytes, int? serverSendBytes = null)
    {
        string define = model switch { "e1000" => "%define E1000\n", "ne2k_pci" => "%define NE2K\n", _ => "" };
        string source = $"%define PORT {port}\n%define SEND {sendBytes}\n%define SEND2 {serverSendBytes ?? sendBytes}\n" + define + Source;
        var image = Guest.Assemble(dir, "netguest", source);
        string path = dir["netguest.img"];
        using (var file = File.Create(path))
        {
            file.Write(image);
            file.SetLength(1 << 20);
        }
        return path;
    }

    public static byte Pattern(int i) => (byte)(i ^ (i >> 8) ^ (i >> 16));

    public static byte[] PatternBytes(int count)
    {
        var data = new byte[count];
        for (int i = 0; i < count; i++) data[i] = Pattern(i);
        return data;
    }

    /// <summary>Sends <paramref name="count"/> pattern bytes and half-closes while reading the peer's bytes until EOF.</summary>
    public static (byte[] Received, TimeSpan Elapsed) Exchange(Socket socket, int count)
    {
        socket.SendTimeout = 120_000; // a stalled guest fails the test instead of hanging it
        socket.ReceiveTimeout = 120_000;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var received = new MemoryStream();
        var reader = Task.Run(() =>
        {
            var buffer = new byte[65536];
            int n;
            while ((n = socket.Receive(buffer)) > 0) received.Write(buffer, 0, n);
        });
        socket.Send(PatternBytes(count));
        socket.Shutdown(SocketShutdown.Send);
        if (!reader.Wait(TimeSpan.FromSeconds(150))) throw new IOException("the guest stopped sending");
        return (received.ToArray(), watch.Elapsed);
    }

    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private const string Source = """
; A tiny network guest for a legacy virtio-net NIC (an 82540EM with -DE1000, an RTL8029 with -DNE2K): long mode,
; polling, no interrupts; ring 0 finds and sets up the NIC, the data path runs in ring 3.
; DHCP DISCOVER -> OFFER, ARP for the gateway, ping it, a TCP connection to 10.0.2.2:PORT moving SEND bytes
; each way (host checks what the guest sent, the guest checks what the host sent: byte i = i ^ i>>8 ^ i>>16),
; then it listens on port 7 (hostfwd) and does the same. Results on COM1; ends with cli/hlt.
; Sends stay within the peer's window; virtio notifies only after posting buffers and not while the device sets
; VRING_USED_F_NO_NOTIFY, as drivers do.
bits 16
org 0x7c00
SECTORS equ 16
RXQ   equ 0x20000
TXQ   equ 0x30000
RXBUF equ 0x40000
TXBUF equ 0x60000
TXF   equ TXBUF + 10
NRX   equ 64
V     equ 0x70000
iobase   equ V + 0
mymac    equ V + 4
gwmac    equ V + 12
rx_last  equ V + 20
rx_id    equ V + 24
tx_next  equ V + 88
rx_tail  equ V + 92
rx_posted equ V + 96
snd_wnd  equ V + 100
snd_wsh  equ V + 104
got_dhcp equ V + 28
got_arp  equ V + 29
got_ping equ V + 30
need_ack equ V + 31
peer_fin equ V + 32
fin_sent equ V + 33
state    equ V + 34
dhcp_ip  equ V + 36
lport    equ V + 40
rport    equ V + 44
rip      equ V + 48
iss      equ V + 52
snd_una  equ V + 56
snd_nxt  equ V + 60
rcv_nxt  equ V + 64
rcv_bytes equ V + 68
bad      equ V + 72
to_send  equ V + 76
myip     equ V + 80
gwip     equ V + 84
ST_LISTEN equ 1
ST_SYNSENT equ 2
ST_SYNRCVD equ 3
ST_EST equ 4
NE_TPSR equ 0x40          ; ne2k: transmit buffer pages 0x40-0x45, receive ring 0x46-0x7f
NE_PSTART equ 0x46
NE_PSTOP equ 0x80

    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    mov ax, 0x0200 + SECTORS
    mov cx, 0x0002
    xor dh, dh
    mov bx, 0x7e00
    int 0x13
    jc $
    lgdt [gdtr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp 0x08:pm
align 8
gdt: dq 0
     dq 0x00CF9A000000FFFF    ; 0x08 32-bit code
     dq 0x00CF92000000FFFF    ; 0x10 data
     dq 0x00AF9A000000FFFF    ; 0x18 64-bit code
     dq 0x00CFF2000000FFFF    ; 0x23 user data
     dq 0x00AFFA000000FFFF    ; 0x2B user 64-bit code
     dq 0x0000890010000067    ; 0x30 TSS at 0x1000
     dq 0
gdtr: dw 63
      dd gdt
times 510-($-$$) db 0
dw 0xaa55

bits 32
pm:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x7000
    cld
    ; long mode: 4 GiB identity-mapped with user-accessible 2 MiB pages (PML4 0x10000, PDPT 0x11000, PDs 0x12000)
    mov edi, 0x1000
    mov ecx, 0x1000 / 4
    xor eax, eax
    rep stosd
    mov edi, 0x10000
    mov ecx, 0x6000 / 4
    rep stosd
    mov dword [0x10000], 0x11007
    mov edi, 0x11000
    mov eax, 0x12007
    mov ecx, 4
.pdpt:
    mov [edi], eax
    add eax, 0x1000
    add edi, 8
    loop .pdpt
    mov edi, 0x12000
    mov eax, 0x87
    xor edx, edx
    mov ecx, 2048
.pd:
    mov [edi], eax
    mov [edi + 4], edx
    add eax, 0x200000
    adc edx, 0
    add edi, 8
    loop .pd
    mov eax, cr4
    or eax, 0x20
    mov cr4, eax
    mov eax, 0x10000
    mov cr3, eax
    mov ecx, 0xC0000080
    rdmsr
    or eax, 0x100
    wrmsr
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    jmp 0x18:lm
bits 64
lm:
    mov edi, V
    mov ecx, 256
    xor eax, eax
    rep stosd
    mov dword [myip], 0x0F02000A
    mov dword [gwip], 0x0202000A
    mov dword [to_send], SEND
    mov esi, msg_hello
    call print

    ; find 1af4:1000 on bus 0
    mov ebx, 0x80000000
.scan:
    mov eax, ebx
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    in eax, dx
%ifdef NE2K
    cmp eax, 0x802910ec
%elifdef E1000
    cmp eax, 0x100e8086
%else
    cmp eax, 0x10001af4
%endif
    je .found
    add ebx, 0x800
    cmp ebx, 0x80010000
    jb .scan
    mov esi, msg_nodev
    jmp fail

%ifdef E1000
.found:
    lea eax, [ebx + 4]
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    in ax, dx
    or ax, 7                  ; I/O, memory, bus master
    out dx, ax
    lea eax, [ebx + 0x10]
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    in eax, dx
    and eax, 0xfffffff0
    mov [iobase], eax
    mov ebx, eax
    mov dword [ebx + 0xD8], 0xffffffff  ; IMC
    mov dword [ebx], 0x04000000         ; CTRL.RST
    mov ecx, 1000
.rst:
    test dword [ebx], 0x04000000
    jz .rstdone
    loop .rst
.rstdone:
    mov dword [ebx + 0xD8], 0xffffffff
    mov dword [ebx], 0x41               ; SLU, FD
    xor ecx, ecx
.eerd:
    mov eax, ecx
    shl eax, 8
    or eax, 1
    mov [ebx + 0x14], eax
.eewait:
    mov eax, [ebx + 0x14]
    test al, 0x10
    jz .eewait
    shr eax, 16
    mov [mymac + ecx * 2], ax
    inc ecx
    cmp ecx, 3
    jb .eerd
    mov edi, RXQ
    mov ecx, 0x3000 / 4
    xor eax, eax
    rep stosd
    mov edi, TXQ
    mov ecx, 0x3000 / 4
    rep stosd
    xor ecx, ecx
.post:
    mov eax, ecx
    shl eax, 11
    add eax, RXBUF
    mov edi, ecx
    shl edi, 4
    mov [RXQ + edi], eax
    inc ecx
    cmp ecx, NRX
    jb .post
    mov dword [ebx + 0x2800], RXQ
    mov dword [ebx + 0x2804], 0
    mov dword [ebx + 0x2808], NRX * 16
    mov dword [ebx + 0x2810], 0
    mov dword [ebx + 0x2818], NRX - 1
    mov dword [rx_tail], NRX - 1
    mov dword [ebx + 0x0100], 0x04008002 ; EN, BAM, SECRC, 2048-byte buffers
    mov dword [ebx + 0x3800], TXQ
    mov dword [ebx + 0x3804], 0
    mov dword [ebx + 0x3808], 16 * 16
    mov dword [ebx + 0x3810], 0
    mov dword [ebx + 0x3818], 0
    mov dword [ebx + 0x0400], 0x0004010A ; EN, PSP, CT 0x10, COLD 0x40
%elifdef NE2K
.found:
    lea eax, [ebx + 4]
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    in ax, dx
    or ax, 5                  ; I/O space + bus master
    out dx, ax
    lea eax, [ebx + 0x10]
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    in eax, dx
    and eax, 0xfffc
    mov [iobase], eax
    mov edx, eax
    add edx, 0x1f
    in al, dx                 ; reset port: read resets, write ends the pulse
    out dx, al
    sub edx, 0x18             ; ISR
    mov ecx, 100000
.rst:
    in al, dx
    test al, 0x80
    jnz .rstdone
    loop .rst
    mov esi, msg_nodev
    jmp fail
.rstdone:
    mov al, 0xff
    out dx, al                ; clear ISR
    mov esi, ne_init
.init:
    lodsw                     ; al = register, ah = value
    cmp al, 0xff
    je .initdone
    movzx edx, al
    add edx, [iobase]
    mov al, ah
    out dx, al
    jmp .init
.initdone:
    xor eax, eax              ; PROM: 16 words, each MAC byte doubled
    mov ecx, 32
    mov edi, RXBUF
    mov bl, 0x0a
    call ne_dma
    xor ecx, ecx
.mac:
    mov al, [RXBUF + ecx * 2]
    mov [mymac + ecx], al
    inc ecx
    cmp ecx, 6
    jb .mac
    mov edx, [iobase]
    mov al, 0x61              ; page 1, stop
    out dx, al
    xor ecx, ecx
.par:
    inc edx
    mov al, [mymac + ecx]
    out dx, al                ; PAR0-5
    inc ecx
    cmp ecx, 6
    jb .par
    inc edx
    mov al, NE_PSTART + 1
    out dx, al                ; CURR
    mov [rx_last], al
    mov esi, ne_start
    jmp .init2
.init2:
    lodsw
    cmp al, 0xff
    je .started
    movzx edx, al
    add edx, [iobase]
    mov al, ah
    out dx, al
    jmp .init2
.started:

%else
.found:
    lea eax, [ebx + 4]
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    in ax, dx
    or ax, 5                  ; I/O space + bus master
    out dx, ax
    lea eax, [ebx + 0x10]
    mov dx, 0xcf8
    out dx, eax
    mov dx, 0xcfc
    in eax, dx
    and eax, 0xfffc
    mov [iobase], eax

    mov edx, [iobase]
    add edx, 0x12
    xor al, al
    out dx, al                ; reset
    mov al, 1
    out dx, al                ; ACKNOWLEDGE
    mov al, 3
    out dx, al                ; DRIVER
    mov edx, [iobase]
    add edx, 4
    mov eax, 0x20             ; MAC only: 10-byte header
    out dx, eax
    xor ecx, ecx
.mac:
    mov edx, [iobase]
    add edx, 0x14
    add edx, ecx
    in al, dx
    mov [mymac + ecx], al
    inc ecx
    cmp ecx, 6
    jb .mac

    mov edi, RXQ
    mov ecx, 0x3000 / 4
    xor eax, eax
    rep stosd
    mov edi, TXQ
    mov ecx, 0x3000 / 4
    rep stosd
    mov edi, TXBUF
    mov ecx, 2048 / 4
    rep stosd
    xor eax, eax              ; queue 0: receive
    call select_queue
    mov eax, RXQ >> 12
    out dx, eax
    mov eax, 1                ; queue 1: transmit
    call select_queue
    mov eax, TXQ >> 12
    out dx, eax
    xor ecx, ecx
.post:
    mov eax, ecx
    shl eax, 11
    add eax, RXBUF
    mov edi, ecx
    shl edi, 4
    mov [RXQ + edi], eax
    mov dword [RXQ + edi + 4], 0
    mov dword [RXQ + edi + 8], 2048
    mov dword [RXQ + edi + 12], 2     ; WRITE
    mov [RXQ + 4096 + 4 + ecx * 2], cx
    inc ecx
    cmp ecx, NRX
    jb .post
    mov word [RXQ + 4096 + 2], NRX
    mov edx, [iobase]
    add edx, 0x12
    mov al, 7                 ; DRIVER_OK
    out dx, al
    mov byte [rx_posted], 1
    call rx_kick

%endif
    ; Ring 3 from here: ring 0 is emulated instruction by instruction on PVM hosts, ring 3 runs natively.
    ; Port I/O from ring 3 faults (#GP) into port_trap, which does it in ring 0.
    mov dword [0x1004], 0x7000    ; TSS RSP0
    mov word [0x1066], 104        ; no I/O bitmap
    mov ax, 0x30
    ltr ax
    mov rax, port_trap
    mov [0x1100 + 13 * 16], ax
    mov word [0x1100 + 13 * 16 + 2], 0x18
    mov word [0x1100 + 13 * 16 + 4], 0x8E00
    shr rax, 16
    mov [0x1100 + 13 * 16 + 6], ax
    lidt [idtr]
    push 0x23
    push 0x6800
    push 0x2
    push 0x2B
    push user
    iretq
user:
    ; DHCP DISCOVER
    mov edi, TXF + 42
    mov ecx, 300
    xor al, al
    rep stosb
    mov dword [TXF + 42], 0x00060101
    mov dword [TXF + 46], 0x44434241
    mov esi, mymac
    mov edi, TXF + 42 + 28
    movsd
    movsw
    mov dword [TXF + 42 + 236], 0x63538263
    mov dword [TXF + 42 + 240], 0xff010135
    mov word [TXF + 34], 0x4400
    mov word [TXF + 36], 0x4300
    mov word [TXF + 38], 0x3401      ; 308
    mov word [TXF + 40], 0
    mov esi, bcast
    xor edx, edx
    mov eax, 0xffffffff
    mov bl, 17
    mov ecx, 308
    call ip_finish
    call tx_send
.dhcp:
    call poll_all
    cmp byte [got_dhcp], 0
    je .dhcp
    mov esi, msg_dhcp
    call print
    mov eax, [dhcp_ip]
    bswap eax
    call print_hex
    call newline

    ; ARP who-has 10.0.2.2
    mov edi, TXF
    mov esi, bcast
    movsd
    movsw
    mov esi, mymac
    movsd
    movsw
    mov dword [TXF + 12], 0x01000608
    mov dword [TXF + 16], 0x04060008
    mov word [TXF + 20], 0x0100
    mov esi, mymac
    mov edi, TXF + 22
    movsd
    movsw
    mov eax, [myip]
    mov [TXF + 28], eax
    mov dword [TXF + 32], 0
    mov word [TXF + 36], 0
    mov eax, [gwip]
    mov [TXF + 38], eax
    mov ecx, 42
    call tx_send
.arp:
    call poll_all
    cmp byte [got_arp], 0
    je .arp
    mov esi, msg_arp
    call print
    movzx eax, byte [gwmac + 5]
    call print_hex
    call newline

    ; ping 10.0.2.2
    mov dword [TXF + 34], 0x00000008
    mov dword [TXF + 38], 0x01000100
    mov edi, TXF + 42
    mov ecx, 32
    mov al, 'a'
.fill:
    stosb
    inc al
    loop .fill
    mov esi, TXF + 34
    mov ecx, 40
    xor eax, eax
    call csum_add
    call csum_fold
    mov [TXF + 36], ax
    mov esi, gwmac
    mov edx, [myip]
    mov eax, [gwip]
    mov bl, 1
    mov ecx, 40
    call ip_finish
    call tx_send
.ping:
    call poll_all
    cmp byte [got_ping], 0
    je .ping
    mov esi, msg_ping
    call print

    ; TCP client to 10.0.2.2:PORT
    mov dword [lport], 0xC000
    mov dword [rport], PORT
    mov eax, [gwip]
    mov [rip], eax
    mov dword [iss], 0x10000000
    mov byte [state], ST_SYNSENT
    mov eax, [iss]
    mov [snd_una], eax
    mov [snd_nxt], eax
    mov bl, 0x02
    call tcp_send_syn
    inc dword [snd_nxt]
.connect:
    call poll_all
    cmp byte [state], ST_EST
    jne .connect
    mov esi, msg_conn
    call print
    call session
    call report

    ; TCP server on port 7 (hostfwd)
    mov dword [lport], 7
    mov dword [to_send], SEND2
    mov dword [iss], 0x20000000
    mov byte [state], ST_LISTEN
    mov byte [peer_fin], 0
    mov byte [fin_sent], 0
    mov dword [rcv_bytes], 0
    mov dword [bad], 0
    mov esi, msg_listen
    call print
.accept:
    call poll_all
    cmp byte [state], ST_EST
    jne .accept
    call session
    call report
    mov esi, msg_done
    call print
    cli
    hlt
    jmp $

; #GP from ring 3 at an in/out/ins/outs (with 66/F3 prefixes): the same transfer in ring 0 with the user's
; registers, then back past the instruction. Anything else (cli, hlt) stops the guest.
port_trap:
    add rsp, 8
    push rbx
    push rbp
    mov rbx, [rsp + 16]
    xor ebp, ebp
.prefix:
    cmp byte [rbx], 0x66
    jne .rep
    or ebp, 1
    inc rbx
    jmp .prefix
.rep:
    cmp byte [rbx], 0xf3
    jne .op
    or ebp, 2
    inc rbx
    jmp .prefix
.op:
    cmp byte [rbx], 0xee
    je .outb
    cmp byte [rbx], 0xef
    je .outw
    cmp byte [rbx], 0xec
    je .inb
    cmp byte [rbx], 0xed
    je .inw
    cmp byte [rbx], 0x6d
    je .insw
    cmp byte [rbx], 0x6f
    je .outsw
    cli
    hlt
.outb:
    out dx, al
    jmp .next
.outw:
    test ebp, 1
    jz .outd
    out dx, ax
    jmp .next
.outd:
    out dx, eax
    jmp .next
.inb:
    in al, dx
    jmp .next
.inw:
    test ebp, 1
    jz .ind
    in ax, dx
    jmp .next
.ind:
    in eax, dx
    jmp .next
.insw:
    rep insw
    jmp .next
.outsw:
    rep outsw
.next:
    inc rbx
    mov [rsp + 16], rbx
    pop rbp
    pop rbx
    iretq

fail:
    call print
    cli
    hlt

; eax = queue index; leaves dx at the QUEUE_PFN port
select_queue:
    mov edx, [iobase]
    add edx, 0x0e
    out dx, ax
    mov edx, [iobase]
    add edx, 0x08
    ret

%ifdef E1000
rx_kick:
    mov eax, [rx_tail]
    mov ebx, [iobase]
    mov [ebx + 0x2818], eax
    ret

; CF=1 when nothing; else esi = frame, ecx = length
rx_poll:
    mov edx, [rx_last]
    and edx, NRX - 1
    mov edi, edx
    shl edi, 4
    test byte [RXQ + edi + 12], 1
    jz .none
    movzx ecx, word [RXQ + edi + 8]
    mov [rx_id], edx
    inc dword [rx_last]
    mov esi, edx
    shl esi, 11
    add esi, RXBUF
    clc
    ret
.none:
    stc
    ret

rx_recycle:
    mov edx, [rx_id]
    mov edi, edx
    shl edi, 4
    mov byte [RXQ + edi + 12], 0
    mov [rx_tail], edx
    ret

poll_all:
    call rx_poll
    jc .done
    call handle_frame
    call rx_recycle
    jmp poll_all
.done:
    call rx_kick
    ret

; ecx = frame length at TXF
tx_send:
    cmp ecx, 60
    jae .len
    mov ecx, 60
.len:
    mov edx, [tx_next]
    and edx, 15
    mov edi, edx
    shl edi, 4
    mov dword [TXQ + edi], TXF
    mov dword [TXQ + edi + 4], 0
    mov [TXQ + edi + 8], cx
    mov byte [TXQ + edi + 10], 0
    mov byte [TXQ + edi + 11], 0x0B     ; EOP, IFCS, RS
    mov dword [TXQ + edi + 12], 0
    inc edx
    and edx, 15
    mov [tx_next], edx
    mov ebx, [iobase]
    mov [ebx + 0x3818], edx
.wait:
    test byte [TXQ + edi + 12], 1
    jz .wait
    ret

%elifdef NE2K
; DP8390 remote DMA: eax = card address, ecx = bytes (rounded up to even), edi = destination (read) or
; esi = source (write); bl = CR command (0x0A read, 0x12 write). Word transfers (DCR.WTS), one rep per block.
ne_dma:
    inc ecx
    and ecx, ~1
    mov edx, [iobase]
    add edx, 8
    out dx, al                ; RSAR0
    inc edx
    mov al, ah
    out dx, al                ; RSAR1
    inc edx
    mov al, cl
    out dx, al                ; RBCR0
    inc edx
    mov al, ch
    out dx, al                ; RBCR1
    sub edx, 0x0b
    mov al, bl
    out dx, al                ; CR: remote read or write, start
    add edx, 0x10             ; data port
    shr ecx, 1
    cmp bl, 0x0a
    jne .write
    rep insw
    ret
.write:
    rep outsw
    ret

rx_kick:
    ret

; CF=1 when nothing; else esi = frame, ecx = length
rx_poll:
    mov edx, [iobase]
    mov al, 0x62              ; page 1, start
    out dx, al
    add edx, 7
    in al, dx                 ; CURR
    mov bh, al
    sub edx, 7
    mov al, 0x22              ; page 0, start
    out dx, al
    cmp bh, [rx_last]
    je .none
    movzx eax, byte [rx_last]
    shl eax, 8
    mov ecx, 4
    mov edi, RXBUF
    mov bl, 0x0a
    call ne_dma
    movzx ecx, word [RXBUF + 2]
    sub ecx, 4
    cmp ecx, 1514
    ja .bad
    mov al, [RXBUF + 1]
    mov [rx_id], al
    movzx eax, byte [rx_last]
    shl eax, 8
    add eax, 4
    push rcx
    mov edi, RXBUF + 4
    mov bl, 0x0a
    call ne_dma
    pop rcx
    mov esi, RXBUF + 4
    clc
    ret
.none:
    stc
    ret
.bad:
    mov esi, msg_badhdr
    jmp fail

; BNRY = the page before the next unread one
rx_recycle:
    mov al, [rx_id]
    mov [rx_last], al
    dec al
    cmp al, NE_PSTART
    jae .set
    mov al, NE_PSTOP - 1
.set:
    mov edx, [iobase]
    add edx, 3
    out dx, al
    ret

poll_all:
    call rx_poll
    jc .done
    call handle_frame
    call rx_recycle
    jmp poll_all
.done:
    ret

; ecx = frame length at TXF
tx_send:
    cmp ecx, 60
    jae .len
    mov ecx, 60
.len:
    push rcx
    mov eax, NE_TPSR << 8
    mov esi, TXF
    mov bl, 0x12
    call ne_dma
    pop rcx
    mov edx, [iobase]
    add edx, 5
    mov al, cl
    out dx, al                ; TBCR0
    inc edx
    mov al, ch
    out dx, al                ; TBCR1
    sub edx, 6
    mov al, 0x26              ; transmit, start, no DMA
    out dx, al
.wait:
    in al, dx
    test al, 4
    jnz .wait
    ret

%else
; Notifies the device of posted receive buffers, as a driver does: only after posting some, and not while the
; device says it needs no notify (VRING_USED_F_NO_NOTIFY in the used ring's flags).
rx_kick:
    cmp byte [rx_posted], 0
    je .done
    mov byte [rx_posted], 0
    mfence
    test word [RXQ + 0x2000], 1
    jnz .done
    mov edx, [iobase]
    add edx, 0x10
    xor eax, eax
    out dx, ax
.done:
    ret

; CF=1 when nothing; else esi = frame, ecx = length
rx_poll:
    movzx eax, word [RXQ + 0x2000 + 2]
    cmp ax, [rx_last]
    je .none
    movzx ebx, word [rx_last]
    and ebx, 255
    mov edx, [RXQ + 0x2000 + 4 + ebx * 8]
    mov ecx, [RXQ + 0x2000 + 8 + ebx * 8]
    inc word [rx_last]
    and edx, 255
    mov [rx_id], edx
    mov esi, edx
    shl esi, 11
    add esi, RXBUF + 10
    sub ecx, 10
    clc
    ret
.none:
    stc
    ret

rx_recycle:
    movzx ebx, word [RXQ + 4096 + 2]
    mov edx, [rx_id]
    mov eax, ebx
    and eax, 255
    mov [RXQ + 4096 + 4 + eax * 2], dx
    inc bx
    mov [RXQ + 4096 + 2], bx
    mov byte [rx_posted], 1
    ret

poll_all:
    call rx_poll
    jc .done
    call handle_frame
    call rx_recycle
    jmp poll_all
.done:
    call rx_kick
    ret

; ecx = frame length at TXF
tx_send:
    cmp ecx, 60
    jae .len
    mov ecx, 60
.len:
    add ecx, 10
    mov dword [TXQ], TXBUF
    mov dword [TXQ + 4], 0
    mov [TXQ + 8], ecx
    mov dword [TXQ + 12], 0
    movzx ebx, word [TXQ + 4096 + 2]
    mov eax, ebx
    and eax, 255
    mov word [TXQ + 4096 + 4 + eax * 2], 0
    inc bx
    mov [TXQ + 4096 + 2], bx
    mfence
    test word [TXQ + 0x2000], 1
    jnz .wait
    mov edx, [iobase]
    add edx, 0x10
    mov eax, 1
    out dx, ax
.wait:
    cmp [TXQ + 0x2000 + 2], bx
    jne .wait
    ret

%endif
; esi = destination MAC, edx = source IP, eax = destination IP, bl = protocol, ecx = L4 length.
; Writes the Ethernet and IP headers at TXF; returns ecx = frame length.
ip_finish:
    push rcx
    mov edi, TXF
    movsd
    movsw
    mov esi, mymac
    movsd
    movsw
    mov word [TXF + 12], 0x0008
    mov byte [TXF + 14], 0x45
    mov byte [TXF + 15], 0
    add ecx, 20
    xchg cl, ch
    mov [TXF + 16], cx
    mov dword [TXF + 18], 0
    mov byte [TXF + 22], 64
    mov [TXF + 23], bl
    mov word [TXF + 24], 0
    mov [TXF + 26], edx
    mov [TXF + 30], eax
    mov esi, TXF + 14
    mov ecx, 20
    xor eax, eax
    call csum_add
    call csum_fold
    mov [TXF + 24], ax
    pop rcx
    add ecx, 34
    ret

; eax += 16-bit little-endian words of [esi, esi+ecx)
csum_add:
    xor edx, edx
.l:
    cmp ecx, 2
    jb .tail
    mov dx, [esi]
    add eax, edx
    add esi, 2
    sub ecx, 2
    jmp .l
.tail:
    jecxz .done
    movzx edx, byte [esi]
    add eax, edx
.done:
    ret

csum_fold:
    mov edx, eax
    shr edx, 16
    and eax, 0xffff
    add eax, edx
    mov edx, eax
    shr edx, 16
    add eax, edx
    not eax
    ret

; edi = destination, ecx = count, ebx = stream offset
pattern_fill:
    mov eax, ebx
    mov edx, ebx
    shr edx, 8
    xor eax, edx
    shr edx, 8
    xor eax, edx
    stosb
    inc ebx
    loop pattern_fill
    ret

tcp_send_syn:
    mov dword [TXF + 54], 0xB4050402
    mov dword [TXF + 58], 0x02030301
    mov ecx, 8
    mov bh, 0x70
    jmp tcp_common
; bl = flags, ecx = payload length (payload already at TXF + 54)
tcp_send:
    mov bh, 0x50
tcp_common:
    push rcx
    mov edi, TXF + 34
    mov eax, [lport]
    xchg al, ah
    mov [edi], ax
    mov eax, [rport]
    xchg al, ah
    mov [edi + 2], ax
    mov eax, [snd_nxt]
    bswap eax
    mov [edi + 4], eax
    mov eax, [rcv_nxt]
    bswap eax
    mov [edi + 8], eax
    mov [edi + 12], bh
    mov [edi + 13], bl
    mov word [edi + 14], 0xffff
    mov dword [edi + 16], 0
    pop rcx
    movzx eax, bh
    shr eax, 2
    add ecx, eax              ; L4 length = header + payload (or options)
    cmp bh, 0x70
    jne .plain
    sub ecx, 8
.plain:
    push rcx
    mov esi, gwmac
    mov edx, [myip]
    mov eax, [rip]
    mov bl, 6
    call ip_finish
    pop rcx                   ; L4 length
    push rcx
    mov eax, ecx
    xchg al, ah
    movzx eax, ax
    add eax, 0x0600
    mov esi, TXF + 26
    push rcx
    mov ecx, 8
    call csum_add
    pop rcx
    mov esi, TXF + 34
    call csum_add
    call csum_fold
    mov [TXF + 34 + 16], ax
    pop rcx
    add ecx, 34
    call tx_send
    ret

; esi = frame, ecx = length
handle_frame:
    mov ax, [esi + 12]
    cmp ax, 0x0608
    je .arp
    cmp ax, 0x0008
    jne .done
    mov al, [esi + 23]
    cmp al, 1
    je .icmp
    cmp al, 17
    je .udp
    cmp al, 6
    je tcp_input
.done:
    ret
.arp:
    cmp word [esi + 20], 0x0200
    jne .done
    mov eax, [esi + 28]
    cmp eax, [gwip]
    jne .done
    mov eax, [esi + 22]
    mov [gwmac], eax
    mov ax, [esi + 26]
    mov [gwmac + 4], ax
    mov byte [got_arp], 1
    ret
.icmp:
    cmp byte [esi + 34], 0
    jne .done
    mov byte [got_ping], 1
    ret
.udp:
    cmp word [esi + 36], 0x4400
    jne .done
    cmp byte [esi + 42], 2
    jne .done
    cmp dword [esi + 46], 0x44434241
    jne .done
    mov eax, [esi + 42 + 16]
    mov [dhcp_ip], eax
    mov byte [got_dhcp], 1
    ret

tcp_input:
    mov ax, [esi + 36]
    xchg al, ah
    movzx eax, ax
    cmp eax, [lport]
    jne .ret
    mov ax, [esi + 34]
    xchg al, ah
    movzx ebx, ax             ; source port
    mov ecx, [esi + 38]
    bswap ecx                 ; seq
    mov edx, [esi + 42]
    bswap edx                 ; ack
    mov al, [esi + 47]        ; flags
    test al, 4
    jnz .rst
    cmp byte [state], ST_LISTEN
    je .listen
    cmp ebx, [rport]
    jne .ret
    cmp byte [state], ST_SYNSENT
    je .synsent
    cmp byte [state], ST_SYNRCVD
    je .synrcvd
    cmp byte [state], ST_EST
    je .est
.ret:
    ret
.rst:
    mov esi, msg_rst
    jmp fail
.listen:
    test al, 2
    jz .ret
    call tcp_syn_opts
    mov [rport], ebx
    mov eax, [esi + 26]
    mov [rip], eax
    inc ecx
    mov [rcv_nxt], ecx
    mov eax, [iss]
    mov [snd_una], eax
    mov [snd_nxt], eax
    mov byte [state], ST_SYNRCVD
    mov bl, 0x12
    call tcp_send_syn
    inc dword [snd_nxt]
    ret
.synsent:
    and al, 0x12
    cmp al, 0x12
    jne .ret
    mov eax, [iss]
    inc eax
    cmp edx, eax
    jne .ret
    call tcp_syn_opts
    inc ecx
    mov [rcv_nxt], ecx
    mov [snd_una], edx
    mov byte [state], ST_EST
    mov byte [need_ack], 1
    ret
.synrcvd:
    test al, 0x10
    jz .ret
    mov edi, [iss]
    inc edi
    cmp edx, edi
    jne .ret
    mov byte [state], ST_EST
.est:
    test al, 0x10
    jz .data
    push rcx
    movzx edi, word [esi + 48]
    rol di, 8
    mov cl, [snd_wsh]
    shl edi, cl
    mov [snd_wnd], edi
    pop rcx
    mov edi, edx
    sub edi, [snd_una]
    jle .data
    mov ebp, [snd_nxt]
    sub ebp, [snd_una]
    cmp edi, ebp
    ja .data
    mov [snd_una], edx
.data:
    ; payload length = ip total - 20 - tcp header
    push rax
    movzx edi, word [esi + 16]
    rol di, 8
    sub edi, 20
    movzx ebp, byte [esi + 46]
    shr ebp, 2
    and ebp, 0x3c
    sub edi, ebp              ; edi = payload length
    lea ebp, [esi + 34 + ebp] ; ebp = payload
    pop rax
    test edi, edi
    jz .fin
    mov byte [need_ack], 1
    cmp ecx, [rcv_nxt]
    jne .ret
    ; verify against the pattern
    push rax
    push rsi
    mov esi, ebp
    mov ebx, [rcv_bytes]
    push rcx
    mov ecx, edi
.check:
    mov eax, ebx
    mov edx, ebx
    shr edx, 8
    xor eax, edx
    shr edx, 8
    xor eax, edx
    cmp al, [esi]
    je .same
    inc dword [bad]
.same:
    inc esi
    inc ebx
    loop .check
    pop rcx
    pop rsi
    pop rax
    mov [rcv_bytes], ebx
    add ecx, edi
    mov [rcv_nxt], ecx
    jmp .fin2
.fin:
    cmp ecx, [rcv_nxt]
    jne .ret
.fin2:
    test al, 1
    jz .ret
    cmp byte [peer_fin], 0
    jne .ret
    inc dword [rcv_nxt]
    mov byte [peer_fin], 1
    mov byte [need_ack], 1
    ret

; esi = a frame carrying SYN: snd_wnd = its window (never scaled), snd_wsh = its window-scale shift (0 without)
tcp_syn_opts:
    push rax
    push rcx
    push rdi
    movzx edi, word [esi + 48]
    rol di, 8
    mov [snd_wnd], edi
    mov byte [snd_wsh], 0
    movzx ecx, byte [esi + 46]
    shr ecx, 4
    lea ecx, [esi + 34 + ecx * 4] ; end of the options
    lea edi, [esi + 54]
.opt:
    cmp edi, ecx
    jae .done
    mov al, [edi]
    test al, al
    jz .done
    cmp al, 1
    jne .kind
    inc edi
    jmp .opt
.kind:
    cmp al, 3
    jne .skip
    mov al, [edi + 2]
    cmp al, 14
    jbe .set
    mov al, 14
.set:
    mov [snd_wsh], al
.skip:
    movzx eax, byte [edi + 1]
    cmp eax, 2
    jb .done
    add edi, eax
    jmp .opt
.done:
    pop rdi
    pop rcx
    pop rax
    ret

; Sends within 32 KiB and the peer's window; ACKs what arrived; ends with FIN sent and acknowledged and the
; peer's FIN received. Nothing is retransmitted (the virtual wire loses nothing).
session:
    call poll_all
    cmp byte [need_ack], 0
    je .noack
    mov byte [need_ack], 0
    mov bl, 0x10
    xor ecx, ecx
    call tcp_send
.noack:
    mov eax, [snd_nxt]
    sub eax, [iss]
    dec eax
    cmp eax, [to_send]
    jae .maybe_fin
    mov edx, [snd_nxt]
    sub edx, [snd_una]
    cmp edx, 32768
    jae .check_done
    mov ecx, [to_send]
    sub ecx, eax
    cmp ecx, 1460
    jbe .size
    mov ecx, 1460
.size:
    lea ebx, [edx + ecx]
    cmp ebx, [snd_wnd]
    ja .check_done
    push rcx
    mov ebx, eax
    mov edi, TXF + 54
    call pattern_fill
    pop rcx
    push rcx
    mov bl, 0x18
    call tcp_send
    pop rcx
    add [snd_nxt], ecx
    jmp .check_done
.maybe_fin:
    cmp byte [fin_sent], 0
    jne .check_done
    mov bl, 0x11
    xor ecx, ecx
    call tcp_send
    inc dword [snd_nxt]
    mov byte [fin_sent], 1
.check_done:
    cmp byte [fin_sent], 0
    je session
    mov eax, [snd_una]
    cmp eax, [snd_nxt]
    jne session
    cmp byte [peer_fin], 0
    je session
    ret

report:
    mov esi, msg_sent
    call print
    mov eax, [snd_nxt]
    sub eax, [iss]
    sub eax, 2
    call print_hex
    mov esi, msg_recv
    call print
    mov eax, [rcv_bytes]
    call print_hex
    mov esi, msg_bad
    call print
    mov eax, [bad]
    call print_hex
    call newline
    ret

print:
    mov dx, 0x3f8
.l:
    lodsb
    test al, al
    jz .done
    out dx, al
    jmp .l
.done:
    ret

newline:
    mov dx, 0x3f8
    mov al, 10
    out dx, al
    ret

print_hex:
    mov ecx, 8
    mov dx, 0x3f8
    mov ebx, eax
.l:
    rol ebx, 4
    mov eax, ebx
    and eax, 15
    mov al, [hex + eax]
    out dx, al
    loop .l
    ret

idtr: dw 14 * 16 - 1
      dq 0x1100
hex: db "0123456789ABCDEF"
bcast: db 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
; ne2k register writes as (offset, value) pairs, 0xff ends: stopped, word DMA, no interrupts, monitor and
; loopback while the ring is set up; then started, broadcast accepted.
ne_init: db 0x00, 0x21, 0x0e, 0x49, 0x0a, 0, 0x0b, 0, 0x0f, 0, 0x07, 0xff, 0x0c, 0x20, 0x0d, 0x02
         db 0x01, NE_PSTART, 0x02, NE_PSTOP, 0x03, NE_PSTART, 0x04, NE_TPSR, 0xff, 0xff
ne_start: db 0x00, 0x22, 0x07, 0xff, 0x0d, 0x00, 0x0c, 0x04, 0xff, 0xff
msg_badhdr: db "BAD RING HEADER", 10, 0
%ifdef E1000
msg_hello: db "NET e1000", 10, 0
%elifdef NE2K
msg_hello: db "NET ne2k_pci", 10, 0
%else
msg_hello: db "NET virtio", 10, 0
%endif
msg_nodev: db "NO NIC", 10, 0
msg_dhcp: db "DHCP ", 0
msg_arp: db "ARP ", 0
msg_ping: db "PING ok", 10, 0
msg_conn: db "CONNECTED", 10, 0
msg_listen: db "LISTEN", 10, 0
msg_rst: db "RESET", 10, 0
msg_sent: db "SENT ", 0
msg_recv: db " RECV ", 0
msg_bad: db " BAD ", 0
msg_done: db "DONE", 10, 0
times SECTORS * 512 + 512 - ($ - $$) db 0
""";
}
