namespace ImageTool.Formats.Dmg;

/// <summary>One block-table entry of a mish block, with its sector and data offset made absolute as qemu does.</summary>
internal readonly record struct DmgChunk(uint Type, ulong Sector, ulong SectorCount, ulong Offset, ulong Length)
{
    public const uint Zero = 0x00000000;
    public const uint Raw = 0x00000001;
    public const uint Ignore = 0x00000002;
    public const uint Adc = 0x80000004;
    public const uint Zlib = 0x80000005;
    public const uint Bzip2 = 0x80000006;
    public const uint Lzfse = 0x80000007;
    public const uint Comment = 0x7FFFFFFE;
    public const uint Terminator = 0xFFFFFFFF;

    /// <summary>qemu's limits: chunks that must be held in memory are at most 64 MiB, compressed or not.</summary>
    public const ulong MaxLength = 64 << 20;
    public const ulong MaxSectors = MaxLength / 512;

    public bool IsZero => Type is Zero or Ignore;

    public string TypeName => Type switch
    {
        Adc => "ADC",
        Lzfse => "lzfse",
        0x80000008 => "lzma",
        _ => $"unknown type {Type:x8}",
    };
}
