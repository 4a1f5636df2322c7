using System.Buffers.Binary;

namespace ImageTool.Kvm.Bios;

/// <summary>
/// INT 13h for hard disks (0x80...) and the El Torito no-emulation CD (0xE0): reset, status, CHS read/write
/// and parameters, the EDD extensions (41h-48h) and the CD emulation status (4Bh). Status codes are
/// SeaBIOS's: 01 bad command/drive, 03 write-protected, 04 sector not found, 0C media type.
/// </summary>
internal sealed class DiskService(IReadOnlyList<BiosDrive> drives)
{
    private const ulong LastStatusBda = 0x474;
    private const int MaxSectorsPerCall = 127;

    public void Handle(BiosCall call)
    {
        var drive = drives.FirstOrDefault(d => d.Number == call.Regs.Dl);
        byte function = call.Regs.Ah;
        if (drive == null) call.Fail(0x01);
        else Run(call, drive, function);
        if (function != 0x01 && call.Regs.Dl >= 0x80) call.Memory.WriteByte(LastStatusBda, call.Carry == true ? call.Regs.Ah : (byte)0);
    }

    private void Run(BiosCall call, BiosDrive drive, byte function)
    {
        switch (function)
        {
            case 0x00 or 0x04 or 0x0C or 0x0D or 0x10 or 0x11 or 0x44 or 0x47: call.Ok(); break;
            case 0x01: call.Ok(call.Memory.ReadByte(LastStatusBda)); break;
            case 0x02 or 0x03: ChsTransfer(call, drive, write: function == 0x03); break;
            case 0x08: Parameters(call, drive); break;
            case 0x15: DriveType(call, drive); break;
            case 0x41: ExtensionsCheck(call); break;
            case 0x42 or 0x43: ExtendedTransfer(call, drive, write: function == 0x43); break;
            case 0x48: ExtendedParameters(call, drive); break;
            case 0x4B: EmulationStatus(call, drive); break;
            default: call.Fail(0x01); break;
        }
    }

    // AL sectors, CH cylinder low, CL[7:6] cylinder high, CL[5:0] sector (1-based), DH head, ES:BX buffer.
    private static void ChsTransfer(BiosCall call, BiosDrive drive, bool write)
    {
        ref var r = ref call.Regs;
        int count = r.Al, sector = r.Cl & 0x3F, head = r.Dh;
        int cylinder = r.Ch | ((r.Cl & 0xC0) << 2);
        if (drive.IsCdrom)
        {
            call.Fail(0x01);
            return;
        }
        if (count == 0 || count > 128 || sector == 0 || sector > BiosDrive.SectorsPerTrack || head >= BiosDrive.Heads)
        {
            r.Al = 0;
            call.Fail(0x01);
            return;
        }
        long lba = ((long)cylinder * BiosDrive.Heads + head) * BiosDrive.SectorsPerTrack + sector - 1;
        byte status = Transfer(call, drive, lba, count, call.EsAddress(r.Bx), write);
        if (status != 0) r.Al = 0;
        Finish(call, status);
    }

    // Disk address packet at DS:SI: u8 size, u8 0, u16 count, u16 offset, u16 segment, u64 LBA [, u64 flat address].
    private static void ExtendedTransfer(BiosCall call, BiosDrive drive, bool write)
    {
        ulong packet = call.DsAddress(call.Regs.Si);
        var p = call.Memory.Span(packet, 16);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(p[2..]);
        ushort offset = BinaryPrimitives.ReadUInt16LittleEndian(p[4..]);
        ushort segment = BinaryPrimitives.ReadUInt16LittleEndian(p[6..]);
        long lba = (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(p[8..]), long.MaxValue / 4096);
        ulong buffer = ((ulong)segment << 4) + offset;
        if (p[0] >= 24 && offset == 0xFFFF && segment == 0xFFFF) buffer = call.Memory.ReadUInt64(packet + 16);
        if (p[0] < 16 || count > MaxSectorsPerCall)
        {
            call.Fail(0x01);
            return;
        }
        byte status = Transfer(call, drive, lba, count, buffer, write);
        if (status != 0) BinaryPrimitives.WriteUInt16LittleEndian(call.Memory.Span(packet + 2, 2), 0);
        Finish(call, status);
    }

    private static byte Transfer(BiosCall call, BiosDrive drive, long lba, int count, ulong buffer, bool write)
    {
        if (!drive.InRange(lba, count)) return 0x04;
        if (write && drive.IsReadOnly) return 0x03;
        int bytes = count * drive.SectorSize;
        if (!call.Memory.Contains(buffer, bytes)) return 0x09; // buffer outside memory: "DMA boundary" error
        var span = call.Memory.Span(buffer, bytes);
        try
        {
            if (write) drive.Write(lba, span);
            else drive.Read(lba, span);
        }
        catch (Exception e) when (e is IOException or ImageFormatException or ArgumentException)
        {
            return write ? (byte)0xCC : (byte)0x10; // write fault / uncorrectable read error
        }
        return 0;
    }

    private static void Finish(BiosCall call, byte status)
    {
        if (status == 0) call.Ok();
        else call.Fail(status);
    }

    // CH/CL: maximum cylinder and sectors per track, DH: maximum head, DL: number of hard disks.
    private void Parameters(BiosCall call, BiosDrive drive)
    {
        if (drive.IsCdrom)
        {
            call.Fail(0x01);
            return;
        }
        ref var r = ref call.Regs;
        int maxCylinder = drive.Cylinders - 1;
        r.Ch = (byte)maxCylinder;
        r.Cl = (byte)(((maxCylinder >> 2) & 0xC0) | BiosDrive.SectorsPerTrack);
        r.Dh = BiosDrive.Heads - 1;
        r.Dl = (byte)drives.Count(d => !d.IsCdrom);
        r.Bl = 0;
        r.Al = 0;
        r.Rdi &= ~0xFFFFUL;
        call.Ok();
    }

    private static void DriveType(BiosCall call, BiosDrive drive)
    {
        ref var r = ref call.Regs;
        long sectors = Math.Min(drive.Sectors * (drive.SectorSize / 512), uint.MaxValue);
        r.Cx = (ushort)(sectors >> 16);
        r.Dx = (ushort)sectors;
        call.Ok(drive.IsCdrom ? (byte)0x02 : (byte)0x03); // 02 = changeline-capable removable, 03 = fixed disk
    }

    private static void ExtensionsCheck(BiosCall call)
    {
        ref var r = ref call.Regs;
        if (r.Bx != 0x55AA)
        {
            call.Fail(0x01);
            return;
        }
        r.Bx = 0xAA55;
        r.Cx = 0x0001; // packet access (42h-44h, 47h, 48h)
        call.Ok(0x30); // EDD 3.0
    }

    // Result buffer at DS:SI: u16 size, u16 flags, u32 cylinders, u32 heads, u32 sectors/track, u64 sectors, u16 bytes/sector.
    private static void ExtendedParameters(BiosCall call, BiosDrive drive)
    {
        ulong at = call.DsAddress(call.Regs.Si);
        int size = call.Memory.ReadUInt16(at);
        if (size < 26)
        {
            call.Fail(0x01);
            return;
        }
        var p = call.Memory.Span(at, size >= 30 ? 30 : 26);
        p.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(p, (ushort)p.Length);
        if (drive.IsCdrom)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(p[2..], 0x74); // removable, lockable, change line
            BinaryPrimitives.WriteUInt64LittleEndian(p[16..], ulong.MaxValue);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(p[2..], 0x02); // CHS information valid
            BinaryPrimitives.WriteUInt32LittleEndian(p[4..], (uint)drive.Cylinders);
            BinaryPrimitives.WriteUInt32LittleEndian(p[8..], BiosDrive.Heads);
            BinaryPrimitives.WriteUInt32LittleEndian(p[12..], BiosDrive.SectorsPerTrack);
            BinaryPrimitives.WriteUInt64LittleEndian(p[16..], (ulong)drive.Sectors);
        }
        BinaryPrimitives.WriteUInt16LittleEndian(p[24..], (ushort)drive.SectorSize);
        if (p.Length >= 30) BinaryPrimitives.WriteUInt32LittleEndian(p[26..], uint.MaxValue); // no DPTE
        call.Ok();
    }

    // AX=4B00 terminate / 4B01 status: specification packet at DS:SI (El Torito 1.0, table 13).
    private static void EmulationStatus(BiosCall call, BiosDrive drive)
    {
        if (drive.BootImage is not { } boot || call.Regs.Al > 1)
        {
            call.Fail(0x01);
            return;
        }
        var p = call.Memory.Span(call.DsAddress(call.Regs.Si), 0x13);
        p.Clear();
        p[0] = 0x13;                       // packet size
        p[1] = 0;                          // no emulation
        p[2] = drive.Number;
        BinaryPrimitives.WriteUInt32LittleEndian(p[4..], boot.Lba);
        BinaryPrimitives.WriteUInt16LittleEndian(p[0x0C..], boot.LoadSegment);
        BinaryPrimitives.WriteUInt16LittleEndian(p[0x0E..], boot.SectorCount);
        call.Ok();
    }
}
