using ImageTool.Kvm.Bios;
using ImageTool.Kvm.Interop;
using ImageTool.Kvm.Machine;

namespace ImageTool.Kvm.Boot;

/// <summary>
/// Legacy boot through the trapping BIOS: the MBR of the first hard disk at 0000:7C00 (signature checked), or
/// the El Torito no-emulation image of the CD at its load segment; the vCPU starts at the ROM's start-up code,
/// which hands over with DL = boot drive.
/// </summary>
internal static class BiosBoot
{
    public const byte FirstHardDisk = 0x80;
    public const byte CdromDrive = 0xE0;

    public static void Prepare(Vcpu vcpu, GuestMemory memory, IReadOnlyList<BiosDrive> drives, bool fromCd)
    {
        int hardDisks = drives.Count(d => !d.IsCdrom);
        if (fromCd)
        {
            var cd = drives.FirstOrDefault(d => d.IsCdrom) ?? throw new KvmBootException("No CD-ROM to boot from (-boot d needs -cdrom)");
            var image = cd.BootImage!;
            int bytes = image.SectorCount * 512;
            ulong at = (ulong)image.LoadSegment << 4;
            if (at < 0x500 || !memory.Contains(at, bytes) || at + (ulong)bytes > (ulong)BiosRom.EbdaSegment << 4)
                throw new KvmBootException($"El Torito boot image does not fit in conventional memory ({bytes} bytes at {image.LoadSegment:X4}:0000)");
            var buffer = new byte[(bytes + 2047) & ~2047];
            cd.Read(image.Lba, buffer);
            memory.Write(at, buffer.AsSpan(0, bytes));
            BiosRom.Install(memory, CdromDrive, image.LoadSegment, 0, hardDisks);
        }
        else
        {
            var disk = drives.FirstOrDefault(d => !d.IsCdrom) ?? throw new KvmBootException("No bootable device: no hard disk given");
            var sector = memory.Span(0x7C00, 512);
            disk.Read(0, sector);
            if (sector[510] != 0x55 || sector[511] != 0xAA)
                throw new KvmBootException($"Boot failed: '{disk.Name}' has no boot signature (55 AA) in sector 0");
            BiosRom.Install(memory, disk.Number, 0, 0x7C00, hardDisks);
        }

        var sregs = vcpu.GetSregs();
        sregs.Cs.SetRealMode(BiosRom.Segment);
        sregs.Ds.SetRealMode(0);
        sregs.Es.SetRealMode(0);
        sregs.Fs.SetRealMode(0);
        sregs.Gs.SetRealMode(0);
        sregs.Ss.SetRealMode(0);
        vcpu.SetSregs(sregs);
        vcpu.SetRegs(new KvmRegs { Rip = BiosRom.EntryOffset, Rsp = 0x7C00, Rflags = 2 });
    }
}
