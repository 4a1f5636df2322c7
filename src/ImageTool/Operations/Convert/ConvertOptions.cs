using ImageTool.Options;

namespace ImageTool.Operations;

/// <summary>What <c>img convert</c> was asked to do.</summary>
public sealed record ConvertOptions
{
    /// <summary>-O: the target's format.</summary>
    public string OutputFormat { get; init; } = "raw";
    /// <summary>-o: the target's creation options.</summary>
    public ImageOptions OutputOptions { get; init; } = new();
    /// <summary>-c: store clusters compressed (formats with <see cref="ICompressedClusterWriter"/>).</summary>
    public bool Compress { get; init; }
    /// <summary>-S: aligned zero runs at least this long stay holes; 0 writes everything.</summary>
    public long SparseSize { get; init; } = 4096;
    /// <summary>
    /// -C: copy offloading as qemu-img means it: data runs are copied whole, without zero detection, by the
    /// kernel (copy_file_range, or shared blocks on xfs/btrfs) where source and target are local files.
    /// Without it img still offloads, but only where the target ends up the same as with plain writes.
    /// </summary>
    public bool CopyOffload { get; init; }

    /// <summary>
    /// With <see cref="Compress"/>: zlib clusters get exactly qemu-img's bytes (the system zlib at its settings). By
    /// default img deflates them with ISA-L where libisal2 is installed: about 8x faster, ~8% larger, read by qemu alike.
    /// </summary>
    public bool QemuIdenticalCompression { get; init; }

    /// <summary>-n: write into an existing target instead of creating it.</summary>
    public bool SkipCreate { get; init; }
    /// <summary>
    /// --target-image-opts (with <see cref="SkipCreate"/>): the existing target is opened with these options (its
    /// driver and driver options from the option string) instead of as <see cref="OutputFormat"/>; null otherwise.
    /// </summary>
    public OpenOptions? TargetOptions { get; init; }
    /// <summary>-B / -F: the target gets this backing file and only what differs from it is written.</summary>
    public string? BackingFile { get; init; }
    /// <summary>-F: the format of <see cref="BackingFile"/>.</summary>
    public string? BackingFormat { get; init; }
    /// <summary>-t: the target's cache mode; qemu's default for convert is unsafe (no fsync).</summary>
    public CacheMode TargetCache { get; init; } = CacheMode.Unsafe;
    /// <summary>-l: read this internal snapshot of the (single) source: "ID_OR_NAME" or "snapshot.id=ID,snapshot.name=NAME".</summary>
    public string? Snapshot { get; init; }
    /// <summary>Open options for the sources (format, force-share, secrets).</summary>
    public OpenOptions SourceOptions { get; init; } = new();
    /// <summary>Secrets by id, for encrypted sources and targets.</summary>
    public IReadOnlyDictionary<string, string>? Secrets { get; init; }
    /// <summary>Receives progress in percent (0 first, 100 last), as often as a chunk is copied.</summary>
    public IProgress<double>? Progress { get; init; }
    /// <summary>--bitmaps: copy the source's persistent dirty bitmaps; --skip-broken-bitmaps leaves out inconsistent ones.</summary>
    public bool Bitmaps { get; init; }
    /// <summary>--skip-broken-bitmaps: with <see cref="Bitmaps"/>, leave out inconsistent bitmaps instead of failing.</summary>
    public bool SkipBrokenBitmaps { get; init; }
    /// <summary>
    /// --salvage: read errors do not end the copy. A sector whose block status fails is copied as data, a sector that
    /// fails to read is written as zeros; each is a warning (through <see cref="OpenOptions.Warning"/> of
    /// <see cref="SourceOptions"/>) unless <see cref="Quiet"/>.
    /// </summary>
    public bool Salvage { get; init; }
    /// <summary>-q: no salvage warnings.</summary>
    public bool Quiet { get; init; }
    /// <summary>Compression workers; 0 = one per core. Output is identical whatever the count.</summary>
    public int Threads { get; init; }
}
