using System.Buffers.Binary;
using System.Text;

namespace ImageTool.Crypto;

/// <summary>The LUKS1 header (592 bytes, big-endian; cryptsetup on-disk format 1.2.1, as qemu's crypto/block-luks.c).</summary>
internal sealed class LuksHeader
{
    public const int Size = 592;
    public const int SlotCount = 8;
    public const int SectorSize = 512;
    public const uint SlotEnabled = 0x00AC71F3;
    public const uint SlotDisabled = 0x0000DEAD;
    public static ReadOnlySpan<byte> Magic => [(byte)'L', (byte)'U', (byte)'K', (byte)'S', 0xBA, 0xBE];

    public required string CipherName { get; init; }
    public required string CipherMode { get; init; }
    public required string HashSpec { get; init; }
    public uint PayloadOffsetSectors { get; init; }
    public uint KeyBytes { get; init; }
    public required byte[] MasterKeyDigest { get; init; }
    public required byte[] MasterKeySalt { get; init; }
    public uint MasterKeyIterations { get; init; }
    public required string Uuid { get; init; }
    public required LuksKeySlot[] Slots { get; init; }

    /// <summary>The cipher the header names (not checked: see <see cref="LuksCipherSpec.FromHeader"/>).</summary>
    public LuksCipherSpec Cipher => LuksCipherSpec.Parse(this);

    public static bool HasMagic(ReadOnlySpan<byte> b) => b.Length >= 8 && b[..6].SequenceEqual(Magic);

    public static LuksHeader Read(ReadOnlySpan<byte> b)
    {
        if (b.Length < Size || !b[..6].SequenceEqual(Magic)) throw new ImageFormatException("Volume is not in LUKS format");
        int version = BinaryPrimitives.ReadUInt16BigEndian(b[6..]);
        if (version != 1) throw new ImageFormatException($"LUKS version {version} is not supported");
        var slots = new LuksKeySlot[SlotCount];
        for (int i = 0; i < SlotCount; i++)
        {
            var s = b[(208 + i * 48)..];
            slots[i] = new LuksKeySlot(
                BinaryPrimitives.ReadUInt32BigEndian(s), BinaryPrimitives.ReadUInt32BigEndian(s[4..]),
                s.Slice(8, 32).ToArray(), BinaryPrimitives.ReadUInt32BigEndian(s[40..]), BinaryPrimitives.ReadUInt32BigEndian(s[44..]));
        }
        return new LuksHeader
        {
            CipherName = CString(b.Slice(8, 32)),
            CipherMode = CString(b.Slice(40, 32)),
            HashSpec = CString(b.Slice(72, 32)),
            PayloadOffsetSectors = BinaryPrimitives.ReadUInt32BigEndian(b[104..]),
            KeyBytes = BinaryPrimitives.ReadUInt32BigEndian(b[108..]),
            MasterKeyDigest = b.Slice(112, 20).ToArray(),
            MasterKeySalt = b.Slice(132, 32).ToArray(),
            MasterKeyIterations = BinaryPrimitives.ReadUInt32BigEndian(b[164..]),
            Uuid = CString(b.Slice(168, 40)),
            Slots = slots,
        };
    }

    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        Magic.CopyTo(b);
        BinaryPrimitives.WriteUInt16BigEndian(b[6..], 1);
        Encoding.ASCII.GetBytes(CipherName, b.Slice(8, 31));
        Encoding.ASCII.GetBytes(CipherMode, b.Slice(40, 31));
        Encoding.ASCII.GetBytes(HashSpec, b.Slice(72, 31));
        BinaryPrimitives.WriteUInt32BigEndian(b[104..], PayloadOffsetSectors);
        BinaryPrimitives.WriteUInt32BigEndian(b[108..], KeyBytes);
        MasterKeyDigest.CopyTo(b[112..]);
        MasterKeySalt.CopyTo(b[132..]);
        BinaryPrimitives.WriteUInt32BigEndian(b[164..], MasterKeyIterations);
        Encoding.ASCII.GetBytes(Uuid, b.Slice(168, 39));
        for (int i = 0; i < SlotCount; i++)
        {
            var s = b[(208 + i * 48)..];
            var slot = Slots[i];
            BinaryPrimitives.WriteUInt32BigEndian(s, slot.Active);
            BinaryPrimitives.WriteUInt32BigEndian(s[4..], slot.Iterations);
            slot.Salt.CopyTo(s[8..]);
            BinaryPrimitives.WriteUInt32BigEndian(s[40..], slot.KeyOffsetSectors);
            BinaryPrimitives.WriteUInt32BigEndian(s[44..], slot.Stripes);
        }
    }

    private static string CString(ReadOnlySpan<byte> b)
    {
        int end = b.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? b : b[..end]);
    }
}

internal sealed record LuksKeySlot(uint Active, uint Iterations, byte[] Salt, uint KeyOffsetSectors, uint Stripes)
{
    public bool IsActive => Active == LuksHeader.SlotEnabled;
}
