using System.Buffers.Binary;
using ImageTool.Kvm.Machine;

namespace ImageTool.Kvm.Boot;

/// <summary>An x86-64 ELF kernel image (vmlinux): PT_LOAD segments go to their physical addresses (Firecracker's way).</summary>
internal static class ElfKernel
{
    private const uint PtLoad = 1;

    public static bool IsElf64(ReadOnlySpan<byte> image) =>
        image.Length >= 64 && image[0] == 0x7F && image[1..4].SequenceEqual("ELF"u8) && image[4] == 2 && image[5] == 1 && BinaryPrimitives.ReadUInt16LittleEndian(image[0x12..]) == 62;

    /// <summary>Copies the segments into guest memory; returns the entry point (e_entry, a physical address for vmlinux).</summary>
    public static ulong Load(ReadOnlySpan<byte> image, GuestMemory memory)
    {
        ulong phoff = BinaryPrimitives.ReadUInt64LittleEndian(image[0x20..]);
        int phentsize = BinaryPrimitives.ReadUInt16LittleEndian(image[0x36..]), phnum = BinaryPrimitives.ReadUInt16LittleEndian(image[0x38..]);
        if (phentsize < 56 || phoff + (ulong)(phentsize * phnum) > (ulong)image.Length) throw new KvmBootException("The kernel's ELF program headers are corrupt");
        for (int i = 0; i < phnum; i++)
        {
            var ph = image.Slice((int)phoff + i * phentsize, 56);
            if (BinaryPrimitives.ReadUInt32LittleEndian(ph) != PtLoad) continue;
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(ph[0x08..]), paddr = BinaryPrimitives.ReadUInt64LittleEndian(ph[0x18..]);
            ulong filesz = BinaryPrimitives.ReadUInt64LittleEndian(ph[0x20..]), memsz = BinaryPrimitives.ReadUInt64LittleEndian(ph[0x28..]);
            if (filesz > memsz || offset + filesz > (ulong)image.Length) throw new KvmBootException("The kernel's ELF segments are corrupt");
            if (!memory.Contains(paddr, (long)memsz)) throw new KvmBootException($"Not enough guest memory for the kernel (needs {(paddr + memsz) >> 20} MiB and more; use -m)");
            memory.Write(paddr, image.Slice((int)offset, (int)filesz));
            for (ulong at = paddr + filesz; at < paddr + memsz; at += 1 << 30)
                memory.Span(at, (int)Math.Min(1UL << 30, paddr + memsz - at)).Clear();
        }
        return BinaryPrimitives.ReadUInt64LittleEndian(image[0x18..]);
    }
}
