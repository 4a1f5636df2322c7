using ImageTool.Info;
using ImageTool.IO;

namespace ImageTool.Formats.Raw;

/// <summary>
/// A raw image on a volume of a block store (rbd:): qemu's raw driver passes snapshots, resizing, the cluster
/// size and the node name through to its protocol node, so the raw image behaves as the volume itself.
/// </summary>
internal sealed class RawVolumeImage(RawImage inner, IRemoteVolume volume) : IImage, IResizable, IInternalSnapshots
{
    /// <summary>The raw image on <paramref name="file"/>, passing the volume's abilities through where it is one.</summary>
    public static IImage Open(HostFile file, IImageFormat format, bool guardBlockZero, int statusAlignment = 1)
    {
        var raw = new RawImage(file, format, guardBlockZero) { StatusAlignment = statusAlignment };
        return file.Volume is { } volume ? new RawVolumeImage(raw, volume) : raw;
    }

    public string FileName => volume.NameUnder(Format.Name);
    public IImageFormat Format => inner.Format;
    public string? BackingFileName => null;
    public string? BackingFormat => null;
    public IImage? Backing => null;
    public void AttachBacking(IImage? backing) => inner.AttachBacking(backing);
    public long Length => inner.Length;
    public bool IsReadOnly => inner.IsReadOnly;
    public void Read(long offset, Span<byte> buffer) => inner.Read(offset, buffer);
    public void Write(long offset, ReadOnlySpan<byte> buffer) => inner.Write(offset, buffer);
    public void WriteZeroes(long offset, long length, bool mayDeallocate) => inner.WriteZeroes(offset, length, mayDeallocate);
    public BlockStatus GetBlockStatus(long offset, long length) => inner.GetBlockStatus(offset, length);
    public void Flush() => inner.Flush();

    public void Resize(long size, string preallocation)
    {
        if (preallocation != "off") throw new UnsupportedFeatureException($"Unsupported preallocation mode: {preallocation}");
        inner.Resize(size, preallocation);
    }

    public ImageInfo GetInfo() => inner.GetInfo() with
    {
        ClusterSize = volume.ClusterSize,
        Snapshots = volume.Snapshots,
        // The rbd driver itself reports format-specific info (its encryption format: none here).
        FormatSpecificType = Format.Name == "rbd" ? "rbd" : null,
        FormatSpecificData = Format.Name == "rbd" ? new InfoObject() : null,
    };

    public IReadOnlyList<SnapshotInfo> Snapshots => volume.Snapshots;

    public void CreateSnapshot(string name, DateTimeOffset now, Action<string>? report = null) => volume.CreateSnapshot(name, report);

    public void ApplySnapshot(string idOrName, Action<string>? report = null) => volume.ApplySnapshot(idOrName);

    // qemu's raw driver has no snapshot_goto: the block layer closes it, reverts the protocol node, reopens.
    public bool ApplyReopens => true;

    public void DeleteSnapshot(string name) => volume.DeleteSnapshot(name);

    // qemu's raw driver has no bdrv_snapshot_load_tmp and does not pass it down.
    public void LoadSnapshotForReading(string? id, string? name) =>
        throw new ImageFormatException($"Block format '{Format.Name}' used by device '' does not support temporarily loading internal snapshots");

    public void Dispose() => inner.Dispose();
}
