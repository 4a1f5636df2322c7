using System.Runtime.InteropServices;
using ImageTool.Kvm.Interop;

namespace ImageTool.Kvm.Tests.Interop;

public class StructLayoutTests
{
    // Sizes and offsets of <linux/kvm.h> on x86-64 (KVM.md §3).
    [TestCase(typeof(KvmRegs), 144)]
    [TestCase(typeof(KvmSregs), 312)]
    [TestCase(typeof(KvmSegment), 24)]
    [TestCase(typeof(KvmDtable), 16)]
    [TestCase(typeof(KvmUserspaceMemoryRegion), 32)]
    [TestCase(typeof(KvmFpu), 416)]
    public void Size_MatchesTheKernelHeader(Type type, int size) => Assert.That(Marshal.SizeOf(type), Is.EqualTo(size));

    [TestCase(nameof(KvmSregs.Tr), 144)]
    [TestCase(nameof(KvmSregs.Gdt), 192)]
    [TestCase(nameof(KvmSregs.Cr0), 224)]
    [TestCase(nameof(KvmSregs.Efer), 264)]
    [TestCase(nameof(KvmSregs.InterruptBitmap0), 280)]
    public void SregsField_IsAtTheKernelOffset(string field, int offset) =>
        Assert.That((int)Marshal.OffsetOf<KvmSregs>(field), Is.EqualTo(offset));

    [Test]
    public void RegsRip_IsAtOffset128() => Assert.That((int)Marshal.OffsetOf<KvmRegs>(nameof(KvmRegs.Rip)), Is.EqualTo(128));

    [Test]
    public void ByteRegisters_ReadAndWriteTheirPartOnly()
    {
        var regs = new KvmRegs { Rax = 0x1122334455667788 };

        regs.Ah = 0xAB;
        regs.Al = 0xCD;

        Assert.That(regs.Rax, Is.EqualTo(0x112233445566ABCDUL));
        Assert.That(regs.Ax, Is.EqualTo(0xABCD));
    }
}
