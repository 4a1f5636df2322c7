using System.Numerics;
using ImageTool.Crypto;
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

    public void Amend(ImageOptions options, bool force, Action<long, long>? status = null)
    {
        // Options are read in the order of qemu's amend option list, which is also the order of its refusals.
        bool encryptionUpdate = options.Values.Keys.Any(k => k.StartsWith("encrypt.", StringComparison.Ordinal));
        if (encryptionUpdate)
        {
            if (!_encryption.IsEnabled) throw new ImageFormatException("Can't amend encryption options - encryption not present");
            if (!_encryption.IsLuks) throw new ImageFormatException("Only LUKS encryption options can be amended");
        }
        long? size = options.GetSize("size");
        int version = (int)_header.Version;
        int newVersion = options.GetString("compat") switch
        {
            null => version,
            "0.10" or "v2" => 2,
            "1.1" or "v3" => 3,
            var v => throw new ImageFormatException($"Unknown compatibility level {v}"),
        };
        string? backingFile = options.GetString("backing_file");
        string? backingFormat = options.GetString("backing_fmt");
        string? dataFile = options.GetString("data_file");
        if (dataFile != null && !HasDataFile)
            throw new ImageFormatException("data-file can only be set for images that use an external data file");
        bool dataFileRaw = options.GetBool("data_file_raw") ?? DataFileRaw;
        if (dataFileRaw && !DataFileRaw) throw new ImageFormatException("data-file-raw cannot be set on existing images");
        bool lazy = options.GetBool("lazy_refcounts") ?? (_header.CompatibleFeatures & Qcow2Header.CompatLazyRefcounts) != 0;
        long refcountBits = options.GetNumber("refcount_bits") ?? _header.RefcountBits;
        if (refcountBits is < 1 or > 64 || !BitOperations.IsPow2(refcountBits))
            throw new ImageFormatException("Refcount width must be a power of two and may not exceed 64 bits");

        int steps = (newVersion != version ? 1 : 0) + (refcountBits != _header.RefcountBits ? 1 : 0) + (encryptionUpdate ? 1 : 0);
        var progress = new Qcow2AmendProgress(status, steps);
        lock (_lock)
        {
            if (newVersion > version) Upgrade(progress);
            if (encryptionUpdate)
            {
                progress.Step = Qcow2AmendStep.UpdatingEncryption;
                _encryption.AmendKeySlots(options, force);
            }
            if (refcountBits != _header.RefcountBits)
            {
                if (newVersion < 3 && refcountBits != 16)
                    throw new ImageFormatException("Refcount widths other than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)");
                progress.Step = Qcow2AmendStep.ChangingRefcountOrder;
                ChangeRefcountOrder(BitOperations.Log2((ulong)refcountBits), progress.Report);
            }
            _header.AutoclearFeatures = dataFileRaw
                ? _header.AutoclearFeatures | Qcow2Header.AutoclearDataFileRaw
                : _header.AutoclearFeatures & ~Qcow2Header.AutoclearDataFileRaw;
            if (dataFile != null) _header.DataFile = dataFile.Length > 0 ? dataFile : null;
            WriteHeader();
            if ((backingFile != null || backingFormat != null)
                && (backingFile != _header.BackingFile || backingFormat != _header.BackingFormat))
                throw new ImageFormatException($"Cannot amend the backing file\nYou can use '{ProgramName.Current} rebase' instead.");
            if (lazy != ((_header.CompatibleFeatures & Qcow2Header.CompatLazyRefcounts) != 0))
            {
                if (lazy && newVersion < 3)
                    throw new ImageFormatException("Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
                if (!lazy) WriteBackMetadata();
                _header.CompatibleFeatures = lazy
                    ? _header.CompatibleFeatures | Qcow2Header.CompatLazyRefcounts
                    : _header.CompatibleFeatures & ~Qcow2Header.CompatLazyRefcounts;
                WriteHeader();
            }
        }
        if (size is { } newSize && newSize != 0) Resize(newSize, "off");
        if (newVersion < version)
        {
            lock (_lock) Downgrade(progress);
        }
    }

    /// <summary>qemu's qcow2_upgrade (v2 to v3), with its three progress points.</summary>
    private void Upgrade(Qcow2AmendProgress progress)
    {
        progress.Step = Qcow2AmendStep.Upgrading;
        progress.Report(0, 2);
        progress.Report(1, 2);
        _header.Version = 3;
        _header.RefcountOrder = 4;
        WriteHeader();
        progress.Report(2, 2);
    }

    /// <summary>qemu's qcow2_downgrade to v2: refused for what v2 cannot express, zero clusters expanded first.</summary>
    private void Downgrade(Qcow2AmendProgress progress)
    {
        if (_header.RefcountOrder != 4) throw new ImageFormatException("compat=0.10 requires refcount_bits=16");
        if (HasDataFile) throw new ImageFormatException("Cannot downgrade an image with a data file");
        if (_header.SnapshotCount > 0) throw new ImageFormatException("Internal snapshots prevent downgrade of image");
        ulong incompatible = _header.IncompatibleFeatures & ~(Qcow2Header.IncompatDirty | Qcow2Header.IncompatCompression);
        if (incompatible != 0) throw new ImageFormatException($"Cannot downgrade an image with incompatible features 0x{incompatible:x} set");
        progress.Step = Qcow2AmendStep.Downgrading;
        ExpandZeroClusters(progress);
        if (_header.CompressionType != 0)
        {
            if (HasCompressedClusters())
                throw new ImageFormatException("Cannot downgrade an image with zstd compression type and existing compressed clusters");
            _header.CompressionType = 0;
            _header.IncompatibleFeatures &= ~Qcow2Header.IncompatCompression;
        }
        WriteBackMetadata();
        _file.Flush();
        _header.Version = 2;
        _header.CompatibleFeatures = 0;
        _header.AutoclearFeatures = 0;
        _header.HeaderLength = Qcow2Header.V2Length;
        WriteHeader();
    }

    private bool HasCompressedClusters()
    {
        for (long offset = 0; offset < Length;)
        {
            var run = Map(offset, Length - offset);
            if (run.Type == Qcow2ClusterType.Compressed) return true;
            offset += run.Length;
        }
        return false;
    }

    /// <summary>v2 has no zero flag: zero clusters become holes (no backing) or clusters of zeros.</summary>
    private void ExpandZeroClusters(Qcow2AmendProgress progress)
    {
        var zeros = new byte[ClusterSize];
        for (long l1Index = 0; l1Index < _l1.Length; l1Index++)
        {
            ExpandZeroClusters(l1Index, zeros);
            progress.Report(l1Index + 1, _l1.Length);
        }
    }

    private void ExpandZeroClusters(long l1Index, byte[] zeros)
    {
        long tableOffset = Qcow2Entry.HostOffset(_l1[l1Index]);
        if (tableOffset == 0) return;
        var peek = LoadL2(tableOffset, l1Index);
        if (!peek.Any(e => Qcow2Entry.Type(e) is Qcow2ClusterType.ZeroPlain or Qcow2ClusterType.ZeroAlloc)) return;
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
