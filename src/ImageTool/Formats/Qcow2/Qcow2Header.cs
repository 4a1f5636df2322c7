using System.Buffers.Binary;
using System.Text;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// The qcow2 header with its extensions and backing file name: everything cluster 0 holds
/// (docs/interop/qcow2.txt "Header", "Header extensions"). Mutable because an open image rewrites it.
/// </summary>
internal sealed class Qcow2Header
{
    public const uint Magic = 0x514649FB;
    public const int V2Length = 72;
    public const int V3Length = 112;
    public const int MinV3Length = 104;
    public const int MinClusterBits = 9;
    public const int MaxClusterBits = 21;
    public const long MaxL1Bytes = 32L << 20;
    public const long MaxRefcountTableBytes = 8L << 20;
    public const int MaxSnapshots = 65536;
    public const int SnapshotHeaderSize = 40;

    public const ulong IncompatDirty = 1;
    public const ulong IncompatCorrupt = 2;
    public const ulong IncompatDataFile = 4;
    public const ulong IncompatCompression = 8;
    public const ulong IncompatExtendedL2 = 16;
    public const ulong IncompatKnown = 0x1F;
    public const ulong CompatLazyRefcounts = 1;
    public const ulong AutoclearBitmaps = 1;
    public const ulong AutoclearDataFileRaw = 2;

    public const uint ExtEnd = 0;
    public const uint ExtBackingFormat = 0xE2792ACA;
    public const uint ExtFeatureTable = 0x6803F857;
    public const uint ExtBitmaps = 0x23852875;
    public const uint ExtCrypto = 0x0537BE77;
    public const uint ExtDataFile = 0x44415441;

    public uint Version { get; set; }
    public ulong BackingFileOffset { get; set; }
    public uint BackingFileSize { get; set; }
    public int ClusterBits { get; set; }
    public ulong Size { get; set; }
    public uint CryptMethod { get; set; }
    public uint L1Size { get; set; }
    public ulong L1TableOffset { get; set; }
    public ulong RefcountTableOffset { get; set; }
    public uint RefcountTableClusters { get; set; }
    public uint SnapshotCount { get; set; }
    public ulong SnapshotsOffset { get; set; }
    public ulong IncompatibleFeatures { get; set; }
    public ulong CompatibleFeatures { get; set; }
    public ulong AutoclearFeatures { get; set; }
    public int RefcountOrder { get; set; } = 4;
    public uint HeaderLength { get; set; }
    public byte CompressionType { get; set; }
    /// <summary>Header bytes past the fields we know (header_length &gt; 112), kept as read.</summary>
    public byte[] UnknownHeaderFields { get; set; } = [];

    public string? BackingFile { get; set; }
    public string? BackingFormat { get; set; }
    public string? DataFile { get; set; }
    /// <summary>Feature names from the image's table: (type, bit) → name.</summary>
    /// <summary>The feature name table extension's entries in file order (qemu reads a partial last entry zero-padded).</summary>
    public List<(int Type, int Bit, string Name)> FeatureNames { get; } = [];
    /// <summary>Extensions we do not interpret (bitmaps, crypto, unknown), preserved in order on rewrite.</summary>
    public List<(uint Type, byte[] Data)> OtherExtensions { get; } = [];

    public int ClusterSize => 1 << ClusterBits;
    public int RefcountBits => 1 << RefcountOrder;

    /// <summary>Parses and validates cluster 0 as qemu's qcow2_do_open does, in its order and wording.</summary>
    /// <param name="head">The first bytes of the file (at least one cluster, or the whole file if shorter).</param>
    /// <param name="readWrite">Opened for writing: the corrupt bit refuses it.</param>
    public static Qcow2Header Read(ReadOnlySpan<byte> head, bool readWrite)
    {
        if (head.Length < V2Length) throw new ImageFormatException("qcow2 header too short");
        var h = new Qcow2Header
        {
            Version = Be32(head, 4),
            BackingFileOffset = Be64(head, 8),
            BackingFileSize = Be32(head, 16),
            Size = Be64(head, 24),
            CryptMethod = Be32(head, 32),
            L1Size = Be32(head, 36),
            L1TableOffset = Be64(head, 40),
            RefcountTableOffset = Be64(head, 48),
            RefcountTableClusters = Be32(head, 56),
            SnapshotCount = Be32(head, 60),
            SnapshotsOffset = Be64(head, 64),
        };
        uint clusterBits = Be32(head, 20);
        if (Be32(head, 0) != Magic) throw new ImageFormatException("Image is not in qcow2 format");
        if (h.Version is < 2 or > 3) throw new UnsupportedFeatureException($"Unsupported qcow2 version {h.Version}");
        if (clusterBits is < MinClusterBits or > MaxClusterBits)
            throw new ImageFormatException($"Unsupported cluster size: 2^{clusterBits}");
        h.ClusterBits = (int)clusterBits;
        uint refcountOrder = 4;
        if (h.Version == 2)
        {
            h.HeaderLength = V2Length;
        }
        else
        {
            if (head.Length < MinV3Length) throw new ImageFormatException("qcow2 header too short");
            h.IncompatibleFeatures = Be64(head, 72);
            h.CompatibleFeatures = Be64(head, 80);
            h.AutoclearFeatures = Be64(head, 88);
            refcountOrder = Be32(head, 96);
            h.HeaderLength = Be32(head, 100);
            if (h.HeaderLength < MinV3Length) throw new ImageFormatException("qcow2 header too short");
        }
        if (h.HeaderLength > h.ClusterSize) throw new ImageFormatException("qcow2 header exceeds cluster size");
        if (h.HeaderLength > head.Length) throw new ImageFormatException("qcow2 header too short");
        if (h.HeaderLength > V3Length) h.UnknownHeaderFields = head[V3Length..(int)h.HeaderLength].ToArray();
        if (h.BackingFileOffset > (ulong)h.ClusterSize) throw new ImageFormatException("Invalid backing file offset");
        int extEnd = h.BackingFileOffset != 0 ? (int)h.BackingFileOffset : h.ClusterSize;
        h.CompressionType = h.HeaderLength > 104 ? head[104] : (byte)0;
        if (h.CompressionType > 1) throw new UnsupportedFeatureException($"qcow2: unknown compression type: {h.CompressionType}");
        if ((h.CompressionType == 0) == ((h.IncompatibleFeatures & IncompatCompression) != 0))
            throw new ImageFormatException(h.CompressionType == 0
                ? "qcow2: Compression type incompatible feature bit must not be set"
                : "qcow2: Compression type incompatible feature bit must be set");

        ulong unknown = h.IncompatibleFeatures & ~IncompatKnown;
        if (unknown != 0)
        {
            try { h.ReadExtensions(head, extEnd); }
            catch (ImageFormatException) { }
            throw new UnsupportedFeatureException($"Unsupported qcow2 feature(s): {h.DescribeUnsupported(unknown)}");
        }
        if ((h.IncompatibleFeatures & IncompatCorrupt) != 0 && readWrite)
            throw new ImageCorruptException("qcow2: Image is corrupt; cannot be opened read/write");
        if (refcountOrder > 6) throw new ImageFormatException("Reference count entry width too large; may not exceed 64 bits");
        h.RefcountOrder = (int)refcountOrder;
        if (h.CryptMethod > 2) throw new UnsupportedFeatureException($"Unsupported encryption method {h.CryptMethod}");
        if (h.RefcountTableClusters == 0) throw new ImageCorruptException("Image does not contain a reference count table");
        ValidateTable(h.RefcountTableOffset, h.RefcountTableClusters, h.ClusterSize, MaxRefcountTableBytes, "Reference count table", h.ClusterSize);
        ValidateTable(h.SnapshotsOffset, h.SnapshotCount, SnapshotHeaderSize, (long)SnapshotHeaderSize * MaxSnapshots, "Snapshot table", h.ClusterSize);
        ValidateTable(h.L1TableOffset, h.L1Size, 8, MaxL1Bytes, "Active L1 table", h.ClusterSize);
        int l2Bits = h.ClusterBits - ((h.IncompatibleFeatures & IncompatExtendedL2) != 0 ? 4 : 3);
        ulong neededL1 = (h.Size + (1UL << (h.ClusterBits + l2Bits)) - 1) >> (h.ClusterBits + l2Bits);
        if (h.Size > long.MaxValue || neededL1 > int.MaxValue) throw new ImageFormatException("Image is too big");
        if (h.L1Size < neededL1) throw new ImageCorruptException("L1 table is too small");
        h.ReadExtensions(head, extEnd);
        if (h.BackingFileOffset != 0)
        {
            uint len = h.BackingFileSize;
            if (len > Math.Min(1023, (ulong)h.ClusterSize - h.BackingFileOffset))
                throw new ImageFormatException("Backing file name too long");
            int start = (int)h.BackingFileOffset;
            if (start + len > head.Length) throw new ImageCorruptException("Could not read backing file name");
            h.BackingFile = CString.DecodeName(head.Slice(start, (int)len));
        }
        return h;
    }

    // qemu's qcow2_validate_table: only size and alignment; offsets past EOF read as zeros.
    private static void ValidateTable(ulong offset, ulong entries, long entryLength, long maxBytes, string name, int clusterSize)
    {
        if (entries > (ulong)(maxBytes / entryLength)) throw new ImageCorruptException($"{name} too large");
        if ((ulong)long.MaxValue - entries * (ulong)entryLength < offset || (offset & (ulong)(clusterSize - 1)) != 0)
            throw new ImageCorruptException($"{name} offset invalid");
    }

    private string DescribeUnsupported(ulong mask)
    {
        var names = new List<string>();
        // As qemu's report_unsupported_feature: table order, up to the first entry without a name.
        foreach (var (type, bit, name) in FeatureNames.TakeWhile(f => f.Name.Length > 0))
        {
            if (type == 0 && bit < 64 && (mask & (1UL << bit)) != 0)
            {
                names.Add(name);
                mask &= ~(1UL << bit);
            }
        }
        if (mask != 0) names.Add($"Unknown incompatible feature: {mask:x}");
        return string.Join(", ", names);
    }

    private void ReadExtensions(ReadOnlySpan<byte> head, int extEnd)
    {
        int at = (int)HeaderLength;
        extEnd = Math.Min(extEnd, head.Length);
        while (at + 8 <= extEnd)
        {
            uint type = Be32(head, at);
            uint length = Be32(head, at + 4);
            at += 8;
            if (length > (uint)(extEnd - at)) throw new ImageCorruptException("Invalid extension length");
            var data = head.Slice(at, (int)length);
            switch (type)
            {
                case ExtEnd:
                    return;
                case ExtBackingFormat:
                    if (length >= 16) throw new ImageCorruptException($"ERROR: ext_backing_format: len={length} too large (>=16)");
                    BackingFormat = CString.Decode(data);
                    break;
                case ExtFeatureTable:
                    for (int i = 0; i < data.Length; i += 48)
                    {
                        var entry = new byte[48];
                        data[i..Math.Min(data.Length, i + 48)].CopyTo(entry);
                        int nameLength = Array.IndexOf(entry, (byte)0, 2) is var nul and >= 0 ? nul - 2 : 46;
                        FeatureNames.Add((entry[0], entry[1], Encoding.UTF8.GetString(entry, 2, nameLength)));
                    }
                    break;
                case ExtDataFile:
                    DataFile = CString.DecodeName(data);
                    break;
                default:
                    OtherExtensions.Add((type, data.ToArray()));
                    break;
            }
            at += (int)((length + 7) & ~7u);
        }
    }

    /// <summary>qemu 7.2's feature name table (written for every v3 header).</summary>
    private static readonly (int Type, int Bit, string Name)[] KnownFeatures =
    [
        (0, 0, "dirty bit"), (0, 1, "corrupt bit"), (0, 2, "external data file"), (0, 3, "compression type"),
        (0, 4, "extended L2 entries"), (1, 0, "lazy refcounts"), (2, 0, "bitmaps"), (2, 1, "raw external data"),
    ];

    /// <summary>Serialises cluster 0 as qemu's qcow2_update_header lays it out; sets the backing name's offset.</summary>
    public byte[] Write()
    {
        var b = new byte[ClusterSize];
        int at = Version == 2 ? V2Length : (int)Math.Max(HeaderLength, V3Length);
        if (Version == 3)
        {
            HeaderLength = (uint)at;
            UnknownHeaderFields.AsSpan().CopyTo(b.AsSpan(V3Length));
        }
        void Ext(uint type, ReadOnlySpan<byte> data)
        {
            int padded = (data.Length + 7) & ~7;
            if (at + 8 + padded + 8 > b.Length) throw new ImageFormatException("Header extensions do not fit in the first cluster");
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(at), type);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(at + 4), (uint)data.Length);
            data.CopyTo(b.AsSpan(at + 8));
            at += 8 + padded;
        }
        if (BackingFormat != null) Ext(ExtBackingFormat, Encoding.UTF8.GetBytes(BackingFormat));
        foreach (var (type, data) in OtherExtensions.Where(e => e.Type == ExtCrypto)) Ext(type, data);
        if (DataFile != null) Ext(ExtDataFile, Encoding.UTF8.GetBytes(DataFile));
        // qemu 7.2 leaves the table out with clusters of 4 KiB and less (verified).
        if (Version == 3 && ClusterSize > 4096)
        {
            var table = new byte[KnownFeatures.Length * 48];
            for (int i = 0; i < KnownFeatures.Length; i++)
            {
                table[i * 48] = (byte)KnownFeatures[i].Type;
                table[i * 48 + 1] = (byte)KnownFeatures[i].Bit;
                Encoding.ASCII.GetBytes(KnownFeatures[i].Name).CopyTo(table, i * 48 + 2);
            }
            Ext(ExtFeatureTable, table);
        }
        foreach (var (type, data) in OtherExtensions.Where(e => e.Type != ExtCrypto)) Ext(type, data);
        at += 8; // end marker (zeros)
        if (BackingFile != null)
        {
            byte[] name = Encoding.UTF8.GetBytes(BackingFile);
            if (name.Length > 1023 || at + name.Length > b.Length) throw new ImageFormatException("Backing file name too long");
            name.CopyTo(b, at);
            BackingFileOffset = (ulong)at;
            BackingFileSize = (uint)name.Length;
        }
        else
        {
            BackingFileOffset = 0;
            BackingFileSize = 0;
        }
        WriteFixed(b);
        return b;
    }

    private void WriteFixed(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32BigEndian(b, Magic);
        BinaryPrimitives.WriteUInt32BigEndian(b[4..], Version);
        BinaryPrimitives.WriteUInt64BigEndian(b[8..], BackingFileOffset);
        BinaryPrimitives.WriteUInt32BigEndian(b[16..], BackingFileSize);
        BinaryPrimitives.WriteUInt32BigEndian(b[20..], (uint)ClusterBits);
        BinaryPrimitives.WriteUInt64BigEndian(b[24..], Size);
        BinaryPrimitives.WriteUInt32BigEndian(b[32..], CryptMethod);
        BinaryPrimitives.WriteUInt32BigEndian(b[36..], L1Size);
        BinaryPrimitives.WriteUInt64BigEndian(b[40..], L1TableOffset);
        BinaryPrimitives.WriteUInt64BigEndian(b[48..], RefcountTableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(b[56..], RefcountTableClusters);
        BinaryPrimitives.WriteUInt32BigEndian(b[60..], SnapshotCount);
        BinaryPrimitives.WriteUInt64BigEndian(b[64..], SnapshotsOffset);
        if (Version == 2) return;
        BinaryPrimitives.WriteUInt64BigEndian(b[72..], IncompatibleFeatures);
        BinaryPrimitives.WriteUInt64BigEndian(b[80..], CompatibleFeatures);
        BinaryPrimitives.WriteUInt64BigEndian(b[88..], AutoclearFeatures);
        BinaryPrimitives.WriteUInt32BigEndian(b[96..], (uint)RefcountOrder);
        BinaryPrimitives.WriteUInt32BigEndian(b[100..], HeaderLength);
        b[104] = CompressionType;
    }

    private static uint Be32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32BigEndian(b[at..]);
    private static ulong Be64(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt64BigEndian(b[at..]);
}
