using ImageTool.Info;

namespace ImageTool.IO;

/// <summary>
/// A network container that is a volume of a block store (an RBD image) rather than a stream of bytes: it can be
/// resized, has an object size, holds snapshots, and names itself as qemu names such nodes. A raw image on it
/// passes these through, as qemu's raw driver does with its protocol node.
/// </summary>
internal interface IRemoteVolume : IRemoteFile
{
    /// <summary>qemu's name of a format node over this volume (<c>json:{"driver": "raw", "file": {...}}</c>).</summary>
    string NameUnder(string format);

    /// <summary>The volume's allocation unit (RBD object size), info's cluster_size.</summary>
    long ClusterSize { get; }

    void Resize(long length);

    IReadOnlyList<SnapshotInfo> Snapshots { get; }

    /// <summary>Creates a snapshot; <paramref name="report"/> receives the line qemu prints before a failure.</summary>
    void CreateSnapshot(string name, Action<string>? report);

    void ApplySnapshot(string name);

    void DeleteSnapshot(string name);
}
