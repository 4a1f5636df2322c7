using System.IO.Compression;
using ImageTool.Kvm.Boot;
using ImageTool.Kvm.Tests.Support;

namespace ImageTool.Kvm.Tests.Boot;

public class KernelPayloadTests
{
    // A vmlinux-like ELF: one PT_LOAD at physical 2 MiB; the entry prints E, then Z when RSI holds the zero page.
    private const string Elf = """
        bits 64
        org 0x200000
        ehdr:
            db 0x7f, "ELF", 2, 1, 1, 0
            times 8 db 0
            dw 2, 62                        ; ET_EXEC, x86-64
            dd 1
            dq entry, phdr - ehdr, 0
            dd 0
            dw 64, 56, 1, 0, 0, 0
        phdr:
            dd 1, 7                         ; PT_LOAD, RWX
            dq 0, 0x200000, 0x200000, file_end - ehdr, file_end - ehdr + 0x1000, 0x1000
        entry:
            mov al, 'E'
            out 0xe9, al
            mov al, 'Z'
            cmp rsi, 0x7000
            je .print
            mov al, 'N'
        .print:
            out 0xe9, al
            mov al, 10
            out 0xe9, al
            cli
            hlt
        file_end:
        """;

    // A bzImage whose protected-mode part is a stand-in decompressor (prints D) followed by the payload.
    private static string BzImage(string payload) => $"""
        bits 64
        org 0x100000 - 0x400
            times 0x1f1-($-$$) db 0
            db 1                            ; setup_sects
            times 0x201-($-$$) db 0
            db 0x66
            db "HdrS"
            dw 0x020f
            times 0x236-($-$$) db 0
            dw 1                            ; XLF_KERNEL_64
            dd 255
            times 0x248-($-$$) db 0
            dd payload - kernel, payload_end - payload
            times 0x260-($-$$) db 0
            dd 0x100000                     ; init_size
            times 0x400-($-$$) db 0
        kernel:
            times 0x200 db 0
            mov al, 'D'
            out 0xe9, al
            cli
            hlt
        payload:
            incbin "{payload}"
        payload_end:
        """;

    [Test]
    public void Run_BzimageWithGzipPayload_EntersTheElfKernelDecompressedOnTheHost()
    {
        Guest.RequireKvm();
        using var dir = new TempDir();
        byte[] elf = Guest.Assemble(dir, "vmlinux", Elf);
        using (var gz = new GZipStream(File.Create(dir["vmlinux.gz"]), CompressionLevel.Optimal))
            gz.Write(elf);
        File.AppendAllBytes(dir["vmlinux.gz"], BitConverter.GetBytes(elf.Length)); // the kernel build appends the size
        Guest.Assemble(dir, "bzImage", BzImage(dir["vmlinux.gz"]));

        var result = Guest.Run(["-m", "16", "-kernel", dir["bzImage.bin"]], timeoutSeconds: 30);

        Assert.That(result.Output, Is.EqualTo("EZ\n"));
        Assert.That(result.ExitCode, Is.Zero);
    }

    [Test]
    public void Lz4Legacy_DecompressesWhatTheLz4ToolWrites()
    {
        string lz4 = Tools.Require("lz4");
        using var dir = new TempDir();
        var random = new Random(8);
        var data = new byte[(9 << 20) + 12345]; // more than one 8 MiB block
        for (int i = 0; i < data.Length; i += 4096)
        {
            if (i / 4096 % 3 == 0) random.NextBytes(data.AsSpan(i, Math.Min(4096, data.Length - i)));
            else System.Text.Encoding.ASCII.GetBytes($"block {i} repeats repeats repeats ").CopyTo(data, i);
        }
        File.WriteAllBytes(dir["data"], data);
        Tools.Run(lz4, "-l", "-9", "-q", "-f", dir["data"], dir["data.lz4"]).Ok();
        byte[] compressed = [.. File.ReadAllBytes(dir["data.lz4"]), .. BitConverter.GetBytes(data.Length)];

        Assert.That(Lz4Legacy.Decompress(compressed, 64 << 20), Is.EqualTo(data));
        Assert.Throws<InvalidDataException>(() => Lz4Legacy.Decompress(compressed, 1 << 20));
        byte[] backReference = [0x02, 0x21, 0x4C, 0x18, 4, 0, 0, 0, 0x10, (byte)'A', 5, 0]; // offset 5 after 1 byte
        Assert.Throws<InvalidDataException>(() => Lz4Legacy.Decompress(backReference, 64 << 20));
    }

    [Test]
    public void TryDecompress_DebianKernel_GivesItsVmlinux()
    {
        string? kernel = Environment.GetEnvironmentVariable("IMG_KVM_LINUX_KERNEL");
        if (string.IsNullOrEmpty(kernel)) Assert.Ignore("set IMG_KVM_LINUX_KERNEL to a bzImage to run this test");
        byte[] image = File.ReadAllBytes(kernel);
        int setupSectors = image[0x1F1] == 0 ? 4 : image[0x1F1];

        byte[]? vmlinux = KernelPayload.TryDecompress(image, (setupSectors + 1) * 512, 1L << 30);

        Assert.That(vmlinux, Is.Not.Null);
        Assert.That(ElfKernel.IsElf64(vmlinux!), Is.True);
        Assert.That(BitConverter.ToUInt64(vmlinux!, 0x18), Is.EqualTo(0x1000000UL), "e_entry: startup_64 at 16 MiB");
    }
}
