using System.Buffers.Binary;

namespace ImageTool.Kvm.Bios;

/// <summary>
/// The initial entry of an El Torito boot catalog (no-emulation only): where the boot image is on the CD,
/// where it goes in memory and how many 512-byte virtual sectors to load.
/// </summary>
/// <param name="LoadSegment">Real-mode segment to load at (0 in the catalog means 0x07C0).</param>
/// <param name="SectorCount">Number of 512-byte virtual sectors.</param>
/// <param name="Lba">First 2048-byte CD sector of the image.</param>
internal sealed record ElToritoBootImage(ushort LoadSegment, ushort SectorCount, uint Lba)
{
    private const int SectorSize = 2048;
    private const long BootRecordLba = 17;

    /// <summary>Reads the Boot Record Volume Descriptor (sector 17) and the catalog it points to.</summary>
    public static ElToritoBootImage Read(IBlockDevice cd, string name)
    {
        var sector = new byte[SectorSize];
        if (cd.Length < (BootRecordLba + 1) * SectorSize) throw NotBootable(name, "it is too small for an ISO 9660 image");
        cd.Read(BootRecordLba * SectorSize, sector);
        // type 0, "CD001", version 1, boot system id "EL TORITO SPECIFICATION", catalog LBA at 0x47.
        if (sector[0] != 0 || !sector.AsSpan(1, 5).SequenceEqual("CD001"u8)
            || !sector.AsSpan(7, 23).SequenceEqual("EL TORITO SPECIFICATION"u8))
            throw NotBootable(name, "it has no El Torito boot record");
        uint catalog = BinaryPrimitives.ReadUInt32LittleEndian(sector.AsSpan(0x47));
        if ((long)catalog * SectorSize >= cd.Length) throw NotBootable(name, "its boot catalog lies outside the image");
        cd.Read((long)catalog * SectorSize, sector);

        // Validation entry: header id 1, key bytes 55 AA, the 16 words sum to zero.
        int sum = 0;
        for (int i = 0; i < 32; i += 2) sum += BinaryPrimitives.ReadUInt16LittleEndian(sector.AsSpan(i));
        if (sector[0] != 1 || sector[30] != 0x55 || sector[31] != 0xAA || (sum & 0xFFFF) != 0)
            throw NotBootable(name, "its boot catalog is invalid");
        // Initial/default entry: bootable 0x88, media type, load segment, system type, sector count, load RBA.
        var entry = sector.AsSpan(32, 32);
        if (entry[0] != 0x88) throw NotBootable(name, "its default boot entry is not bootable");
        if ((entry[1] & 0x0F) != 0) throw NotBootable(name, "only no-emulation El Torito boot images are supported");
        ushort segment = BinaryPrimitives.ReadUInt16LittleEndian(entry[2..]);
        ushort count = BinaryPrimitives.ReadUInt16LittleEndian(entry[6..]);
        uint lba = BinaryPrimitives.ReadUInt32LittleEndian(entry[8..]);
        if (count == 0 || (long)lba * SectorSize >= cd.Length) throw NotBootable(name, "its boot image lies outside the image");
        return new ElToritoBootImage(segment == 0 ? (ushort)0x07C0 : segment, count, lba);
    }

    private static KvmBootException NotBootable(string name, string why) => new($"'{name}' is not a bootable CD: {why}");
}
