using System.Numerics;
using ImageTool.Options;

namespace ImageTool.Formats.Qcow2;

/// <summary>img amend for qcow2: compat up/downgrade, lazy_refcounts, size; qemu 7.2 refuses backing changes here.</summary>
internal sealed partial class Qcow2Image : IAmendable
{
    /// <summary>qemu 7.2's amend options for qcow2, in its help order.</summary>
    internal static readonly IReadOnlyList<OptionSpec> AmendSchema =
    [
        new("backing_file", OptionType.String, "File name of a base image"),
        new("backing_fmt", OptionType.String, "Image format of the base image"),
        new("compat", OptionType.String, "Compatibility level (v2 [0.10] or v3 [1.1])"),
        new("data_file", OptionType.String, "File name of an external data file"),
        new("data_file_raw", OptionType.Bool, "The external data file must stay valid as a raw image"),
        new("encrypt.iter-time", OptionType.Number, "Time to spend in PBKDF in milliseconds"),
        new("encrypt.keyslot", OptionType.Number, "Select a single keyslot to modify explicitly"),
        new("encrypt.new-secret", OptionType.String, "New secret to set in the matching keyslots. Empty string to erase"),
        new("encrypt.old-secret", OptionType.String, "Select all keyslots that match this password"),
        new("encrypt.state", OptionType.String, "Select new state of affected keyslots (active/inactive)"),
        new("lazy_refcounts", OptionType.Bool, "Postpone refcount updates"),
        new("refcount_bits", OptionType.Number, "Width of a reference count entry in bits"),
        new("size", OptionType.Size, "Virtual disk size"),
    ];

    public void Amend(ImageOptions options, bool force)
    {
        int version = (int)_header.Version;
        int newVersion = options.GetString("compat") switch
        {
            null => version,
            "0.10" or "v2" => 2,
            "1.1" or "v3" => 3,
            var v => throw new ImageFormatException($"Unknown compatibility level {v}"),
        };
        long refcountBits = 1L << _header.RefcountOrder;
        if (options.GetNumber("refcount_bits") is { } bits)
        {
            if (bits is < 1 or > 64 || !BitOperations.IsPow2(bits))
                throw new ImageFormatException("Refcount width must be a power of two and may not exceed 64 bits");
            if (newVersion < 3 && bits != 16)
                throw new ImageFormatException("Refcount widths other than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)");
            if (bits != refcountBits) throw new UnsupportedFeatureException("Changing refcount_bits is not supported yet");
        }
        if (options.Contains("backing_file") || options.Contains("backing_fmt"))
            throw new ImageFormatException("Cannot amend the backing file\nYou can use 'img rebase' instead.");
        if (options.Contains("data_file") || options.Contains("data_file_raw") || options.Values.Keys.Any(k => k.StartsWith("encrypt.", StringComparison.Ordinal)))
            throw new UnsupportedFeatureException("Amending external data files and encryption is not supported yet");
        bool? lazy = options.GetBool("lazy_refcounts");
        if (lazy == true && newVersion < 3)
            throw new ImageFormatException("Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
        long? size = options.GetSize("size");
        if (newVersion < version)
        {
            if (_header.SnapshotCount > 0) throw new ImageFormatException("Internal snapshots prevent downgrade of image");
            if (_header.CompressionType != 0) throw new ImageFormatException("Cannot downgrade an image with a compression type other than zlib");
            if (HasDataFile) throw new ImageFormatException("Cannot downgrade an image with a data file");
            if (_extendedL2) throw new ImageFormatException($"Cannot downgrade an image with incompatible features 0x{_header.IncompatibleFeatures & ~Qcow2Header.IncompatDirty:x} set");
        }

        lock (_lock)
        {
            if (newVersion > version)
            {
                _header.Version = 3;
                _header.RefcountOrder = 4;
                WriteHeader();
            }
            if (lazy is { } on)
            {
                _header.CompatibleFeatures = on
                    ? _header.CompatibleFeatures | Qcow2Header.CompatLazyRefcounts
                    : _header.CompatibleFeatures & ~Qcow2Header.CompatLazyRefcounts;
                WriteHeader();
            }
        }
        if (size is { } newSize && newSize != Length) Resize(newSize, "off");
        if (newVersion < version)
        {
            lock (_lock)
            {
                ExpandZeroClusters();
                WriteBackMetadata();
                _file.Flush();
                _header.Version = 2;
                _header.CompatibleFeatures = 0;
                _header.AutoclearFeatures = 0;
                _header.HeaderLength = Qcow2Header.V2Length;
                WriteHeader();
            }
        }
    }

    /// <summary>v2 has no zero flag: zero clusters become holes (no backing) or clusters of zeros.</summary>
    private void ExpandZeroClusters()
    {
        var zeros = new byte[ClusterSize];
        for (long l1Index = 0; l1Index < _l1.Length; l1Index++)
        {
            long tableOffset = Qcow2Entry.HostOffset(_l1[l1Index]);
            if (tableOffset == 0) continue;
            var peek = LoadL2(tableOffset, l1Index);
            if (!peek.Any(e => Qcow2Entry.Type(e) is Qcow2ClusterType.ZeroPlain or Qcow2ClusterType.ZeroAlloc)) continue;
            var table = GetL2ForWrite(l1Index);
            for (int i = 0; i < table.Length; i++)
            {
                ulong entry = table[i];
                var type = Qcow2Entry.Type(entry);
                if (type is not (Qcow2ClusterType.ZeroPlain or Qcow2ClusterType.ZeroAlloc)) continue;
                if (type == Qcow2ClusterType.ZeroAlloc && Qcow2Entry.IsCopied(entry))
                {
                    long host = Qcow2Entry.HostOffset(entry);
                    _file.Write(host, zeros);
                    table[i] = (ulong)host | Qcow2Entry.Copied;
                    continue;
                }
                ReleaseEntry(entry);
                if (_backing == null)
                {
                    table[i] = 0;
                    continue;
                }
                long cluster = Refcounts.Allocate(1);
                _file.Write(cluster, zeros);
                table[i] = (ulong)cluster | Qcow2Entry.Copied;
            }
        }
    }
}
