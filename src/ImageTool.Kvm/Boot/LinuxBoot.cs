using System.Buffers.Binary;
using ImageTool.Kvm.Bios;
using ImageTool.Kvm.Interop;
using ImageTool.Kvm.Machine;

namespace ImageTool.Kvm.Boot;

/// <summary>
/// Linux direct boot through the 64-bit boot protocol (Documentation/x86/boot.rst; layout of KVM.md §2): the
/// protected-mode part of a bzImage at 1 MiB, a zero page with the setup header, e820 map, command line and
/// initrd, identity-mapped page tables, and the vCPU in long mode at startup_64. No BIOS is involved. An LZ4 or
/// gzip payload is decompressed on the host and its vmlinux loaded and entered directly (<see cref="KernelPayload"/>).
/// </summary>
internal static class LinuxBoot
{
    private const ulong Gdt = 0x500;
    private const ulong ZeroPage = 0x7000;
    private const ulong Stack = 0x8FF0;
    private const ulong Pml4 = 0x9000, Pdpt = 0xA000, PageDirectory = 0xB000;
    private const ulong CommandLine = 0x20000;
    private const ulong KernelAddress = 0x100000;
    private const int MaxCommandLine = 2047;

    public static void Prepare(Vcpu vcpu, GuestMemory memory, string kernelPath, string? initrdPath, string commandLine)
    {
        byte[] kernel = ReadFile(kernelPath, "kernel");
        if (kernel.Length < 0x268 || !kernel.AsSpan(0x202, 4).SequenceEqual("HdrS"u8))
            throw new KvmBootException($"'{kernelPath}' is not a Linux bzImage");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(kernel.AsSpan(0x206));
        ushort xloadflags = BinaryPrimitives.ReadUInt16LittleEndian(kernel.AsSpan(0x236));
        if (version < 0x20C || (xloadflags & 1) == 0)
            throw new KvmBootException($"'{kernelPath}' does not support the 64-bit boot protocol (boot protocol 2.12+, XLF_KERNEL_64)");
        int setupSectors = kernel[0x1F1] == 0 ? 4 : kernel[0x1F1];
        int protectedModeStart = (setupSectors + 1) * 512;
        uint initSize = BinaryPrimitives.ReadUInt32LittleEndian(kernel.AsSpan(0x260));
        if (protectedModeStart >= kernel.Length || !memory.Contains(KernelAddress, Math.Max(kernel.Length - protectedModeStart, initSize)))
            throw new KvmBootException($"Not enough guest memory for the kernel (needs {(KernelAddress + initSize) >> 20} MiB and more; use -m)");
        ulong start = KernelAddress + 0x200; // startup_64 of the decompressor
        if (KernelPayload.TryDecompress(kernel, protectedModeStart, memory.Size) is { } vmlinux) start = ElfKernel.Load(vmlinux, memory);
        else memory.Write(KernelAddress, kernel.AsSpan(protectedModeStart));

        var zeroPage = memory.Span(ZeroPage, 4096);
        zeroPage.Clear();
        int headerEnd = 0x202 + kernel[0x201]; // the setup header ends where its jump points
        kernel.AsSpan(0x1F1, headerEnd - 0x1F1).CopyTo(zeroPage[0x1F1..]);
        BinaryPrimitives.WriteUInt16LittleEndian(zeroPage[0x1FA..], 0xFFFF); // vid_mode: normal
        zeroPage[0x210] = 0xFF;                                               // type_of_loader: undefined
        zeroPage[0x211] |= 0x01 | 0x80;                                       // LOADED_HIGH | CAN_USE_HEAP
        BinaryPrimitives.WriteUInt16LittleEndian(zeroPage[0x224..], 0xFE00);  // heap_end_ptr
        BinaryPrimitives.WriteUInt32LittleEndian(zeroPage[0x228..], (uint)CommandLine);

        uint maxCommandLine = version >= 0x206 ? BinaryPrimitives.ReadUInt32LittleEndian(kernel.AsSpan(0x238)) : 255;
        byte[] cmdline = System.Text.Encoding.UTF8.GetBytes(commandLine);
        if (cmdline.Length > Math.Min(maxCommandLine, MaxCommandLine)) throw new ArgumentException("The kernel command line (-append) is too long");
        var cmdlineSpan = memory.Span(CommandLine, cmdline.Length + 1);
        cmdline.CopyTo(cmdlineSpan);
        cmdlineSpan[^1] = 0;

        if (initrdPath != null)
        {
            byte[] initrd = ReadFile(initrdPath, "initrd");
            ulong initrdMax = BinaryPrimitives.ReadUInt32LittleEndian(kernel.AsSpan(0x22C));
            ulong top = Math.Min((ulong)memory.Size, initrdMax + 1);
            ulong at = (top - (ulong)initrd.Length) & ~0xFFFUL;
            if ((ulong)initrd.Length > top || at < KernelAddress + initSize + 0x1000000)
                throw new KvmBootException("Not enough guest memory for the kernel and the initrd (use -m)");
            memory.Write(at, initrd);
            BinaryPrimitives.WriteUInt32LittleEndian(zeroPage[0x218..], (uint)at);
            BinaryPrimitives.WriteUInt32LittleEndian(zeroPage[0x21C..], (uint)initrd.Length);
        }

        var map = SystemService.MemoryMap(memory.Size);
        zeroPage[0x1E8] = (byte)map.Count;
        for (int i = 0; i < map.Count; i++)
        {
            var entry = zeroPage.Slice(0x2D0 + 20 * i, 20);
            BinaryPrimitives.WriteUInt64LittleEndian(entry, map[i].Base);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], map[i].Length);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[16..], map[i].Type);
        }
        EnterLongMode(vcpu, memory, start);
    }

    /// <summary>GDT (code 0x10, data 0x18), identity map of the first GiB with 2 MiB pages, long mode at <paramref name="entry"/>.</summary>
    public static void EnterLongMode(Vcpu vcpu, GuestMemory memory, ulong entry)
    {
        memory.WriteUInt64(Gdt, 0);
        memory.WriteUInt64(Gdt + 8, 0);
        memory.WriteUInt64(Gdt + 16, 0x00AF9B000000FFFF);
        memory.WriteUInt64(Gdt + 24, 0x00CF93000000FFFF);
        memory.WriteUInt64(Pml4, Pdpt | 3);
        memory.WriteUInt64(Pdpt, PageDirectory | 3);
        for (ulong i = 0; i < 512; i++) memory.WriteUInt64(PageDirectory + 8 * i, (i << 21) | 0x83);

        var sregs = vcpu.GetSregs();
        var code = new KvmSegment { Base = 0, Limit = 0xFFFFFFFF, Selector = 0x10, Type = 0xB, Present = 1, S = 1, L = 1, G = 1 };
        var data = new KvmSegment { Base = 0, Limit = 0xFFFFFFFF, Selector = 0x18, Type = 0x3, Present = 1, Db = 1, S = 1, G = 1 };
        sregs.Cs = code;
        sregs.Ds = sregs.Es = sregs.Fs = sregs.Gs = sregs.Ss = data;
        sregs.Gdt = new KvmDtable { Base = Gdt, Limit = 31 };
        sregs.Idt = default;
        sregs.Cr0 = 0x80000011; // PG | ET | PE
        sregs.Cr3 = Pml4;
        sregs.Cr4 = 0x20;       // PAE
        sregs.Efer = 0x500;     // LME | LMA
        vcpu.SetSregs(sregs);
        vcpu.SetRegs(new KvmRegs { Rip = entry, Rsi = ZeroPage, Rsp = Stack, Rbp = Stack, Rflags = 2 });
    }

    private static byte[] ReadFile(string path, string what)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > 1L << 30) throw new KvmBootException($"The {what} '{path}' is larger than 1 GiB");
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KvmBootException($"Could not read the {what} '{path}': {e.Message}", e);
        }
    }
}
