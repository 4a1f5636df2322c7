namespace ImageTool.Formats.Qcow2;

/// <summary>
/// What the parts of an open qcow2 image that change its metadata as a whole (<see cref="Qcow2Snapshots"/>,
/// <see cref="Qcow2Checker"/>) ask of the image: the steps whose order only the image knows (dirty marking, write-back
/// of the L1/L2/refcount caches, growth and resize) and the state it owns. The L1 table and L2 cache objects are
/// handed to them directly.
/// </summary>
internal interface IQcow2MetadataPath
{
    /// <summary>Virtual size as the image reports it.</summary>
    long Length { get; }

    bool IsReadOnly { get; }

    /// <summary>Guest data lives in an external data file, whose clusters are not refcounted.</summary>
    bool HasDataFile { get; }

    /// <summary>The refcount structure, loaded on first use (again after <see cref="DropRefcounts"/>).</summary>
    Qcow2Refcounts Refcounts { get; }

    /// <summary>Where the image's open warnings go, if anywhere.</summary>
    Action<ImageWarning>? Warning { get; }

    /// <summary>What an L2 entry maps to, in this image's layout (extended L2, data file).</summary>
    Qcow2ClusterType EntryType(ulong entry);

    /// <summary>An L2 table through the cache (writing back and evicting when it is full).</summary>
    ulong[] LoadL2(long l2Offset, long l1Index);

    /// <summary>Sets the dirty bit first when the image has lazy refcounts.</summary>
    void BeginMetadataChange();

    /// <summary>Writes cached metadata in crash-safe order: refcount increments, L2 tables, L1 table, then the decrements.</summary>
    void WriteBackMetadata();

    /// <summary>Runs <paramref name="action"/> with freed clusters punched out of the file.</summary>
    void WithDiscards(Action action);

    /// <summary>Grows the active L1 table to <paramref name="entries"/> (in new clusters; the old ones are freed).</summary>
    void GrowL1(long entries);

    void Resize(long size, string preallocation);

    /// <summary>The refcounts in memory no longer match the file: nothing more is written, as qemu's unusable node.</summary>
    void MarkUnusable();

    /// <summary>The metadata that writing the range would overwrite (none in <paramref name="ignore"/>), or none.</summary>
    Qcow2Image.Metadata FindOverlap(long offset, long length, Qcow2Image.Metadata ignore);

    /// <summary>Writes the whole header from its fields.</summary>
    void WriteHeader();

    /// <summary>Forgets the refcount structure in memory: it was rebuilt on disk and is read again on next use.</summary>
    void DropRefcounts();
}
