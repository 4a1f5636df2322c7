namespace ImageTool.Formats.Qcow2;

/// <summary>
/// The image's metadata path as its snapshot and check parts see it (<see cref="IQcow2MetadataPath"/>); Length,
/// IsReadOnly and Resize are the image's public members.
/// </summary>
internal sealed partial class Qcow2Image
{
    bool IQcow2MetadataPath.HasDataFile => HasDataFile;

    Qcow2Refcounts IQcow2MetadataPath.Refcounts => Refcounts;

    Action<ImageWarning>? IQcow2MetadataPath.Warning => _warning;

    Qcow2ClusterType IQcow2MetadataPath.EntryType(ulong entry) => EntryType(entry);

    ulong[] IQcow2MetadataPath.LoadL2(long l2Offset, long l1Index) => LoadL2(l2Offset, l1Index);

    void IQcow2MetadataPath.BeginMetadataChange() => BeginMetadataChange();

    void IQcow2MetadataPath.WriteBackMetadata() => WriteBackMetadata();

    void IQcow2MetadataPath.WithDiscards(Action action) => WithDiscards(action);

    void IQcow2MetadataPath.GrowL1(long entries) => GrowL1(entries);

    void IQcow2MetadataPath.MarkUnusable() => _unusable = true;

    Metadata IQcow2MetadataPath.FindOverlap(long offset, long length, Metadata ignore) => FindOverlap(offset, length, ignore);

    void IQcow2MetadataPath.WriteHeader() => WriteHeader();

    void IQcow2MetadataPath.DropRefcounts() => _refcounts = null;
}
