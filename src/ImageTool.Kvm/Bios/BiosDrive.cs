namespace ImageTool.Kvm.Bios;

/// <summary>A disk as INT 13h sees it: a BIOS drive number over a block device.</summary>
internal sealed class BiosDrive
{
    public const int Heads = 255;
    public const int SectorsPerTrack = 63;

    public BiosDrive(byte number, string name, IBlockDevice device, bool isCdrom)
    {
        Number = number;
        Name = name;
        Device = device;
        IsCdrom = isCdrom;
        SectorSize = isCdrom ? 2048 : 512;
        Sectors = (device.Length + SectorSize - 1) / SectorSize;
        Cylinders = (int)Math.Clamp(Sectors / (Heads * SectorsPerTrack), 1, 1024);
    }

    public byte Number { get; }
    public string Name { get; }
    public IBlockDevice Device { get; }
    public bool IsCdrom { get; }
    public int SectorSize { get; }
    public long Sectors { get; }
    public int Cylinders { get; }

    /// <summary>Set for the El Torito boot CD: what INT 13h AH=4Bh reports.</summary>
    public ElToritoBootImage? BootImage { get; set; }

    public bool IsReadOnly => IsCdrom || Device.IsReadOnly;

    /// <summary>Reads whole sectors; the part of a last partial sector beyond the device reads as zeros.</summary>
    public void Read(long lba, Span<byte> buffer)
    {
        long offset = lba * SectorSize;
        int inDevice = (int)Math.Clamp(Device.Length - offset, 0, buffer.Length);
        Device.Read(offset, buffer[..inDevice]);
        buffer[inDevice..].Clear();
    }

    public void Write(long lba, ReadOnlySpan<byte> buffer) => Device.Write(lba * SectorSize, buffer);

    public bool InRange(long lba, long count) => lba >= 0 && count >= 0 && lba <= Sectors && count <= Sectors - lba;
}
