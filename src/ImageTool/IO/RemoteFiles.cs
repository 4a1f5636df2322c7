using ImageTool.Nbd;
using ImageTool.Options;
using ImageTool.Rbd;

namespace ImageTool.IO;

/// <summary>The names <see cref="HostFile.Open(string, bool)"/> opens over the network (nbd://, nbd+unix://, rbd:).</summary>
internal static class RemoteFiles
{
    public static bool IsRemote(string name) => NbdAddress.IsNbdUrl(name) || RbdSpec.IsRbdName(name) || Protocols.Quorum.QuorumName.Is(name);

    /// <summary>Whether the name is a volume of a block store (rbd:), which is created rather than opened as a file.</summary>
    public static bool IsVolume(string name) => RbdSpec.IsRbdName(name);

    /// <summary>
    /// Connects when <paramref name="name"/> is a URL of a known protocol; null for a host path.
    /// <paramref name="driverOptions"/> (--image-opts, json:) add what a URL cannot say, such as NBD's tls-creds.
    /// </summary>
    public static IRemoteFile? TryOpen(string name, bool readOnly, ImageOptions? driverOptions = null) =>
        NbdAddress.IsNbdUrl(name) ? OpenNbd(NbdAddress.ParseUrl(name), readOnly, driverOptions)
        : Protocols.Vvfat.VvfatName.IsVvfat(name) ? Protocols.Vvfat.VvfatDisk.Open(name, readOnly, warning: null)
        : RbdSpec.IsRbdName(name) ? RbdRemoteFile.Open(name, readOnly)
        : Protocols.Quorum.QuorumName.Is(name) ? Protocols.Quorum.QuorumFile.Open(name, readOnly)
        : null;

    private static NbdRemoteFile OpenNbd(NbdAddress address, bool readOnly, ImageOptions? driverOptions)
    {
        string prefix = driverOptions?.GetString("driver") == "nbd" ? "" : "file.";
        var file = NbdRemoteFile.Open(address, readOnly, NbdClientTls.FromOptions(driverOptions, address), driverOptions?.GetString(prefix + "x-dirty-bitmap"));
        try
        {
            // qemu checks for options its driver did not take only once the driver has connected.
            if (driverOptions?.GetString(prefix + "driver") == "nbd") NbdOptionKeys.CheckDriver(driverOptions, prefix);
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The creation options of the volume protocol of <paramref name="name"/> (size, cluster_size), or null.</summary>
    public static IReadOnlyList<OptionSpec>? VolumeCreateOptions(string name) => RbdSpec.IsRbdName(name) ? RbdFormat.Instance.CreateOptions : null;

    /// <summary>Creates a volume (<see cref="IsVolume"/>) of <paramref name="size"/> bytes; <paramref name="clusterSize"/> 0 is the store's default.</summary>
    public static void CreateVolume(string name, long size, long clusterSize) => RbdRemoteFile.Create(name, size, clusterSize);

    /// <summary>How qemu names the protocol node of <paramref name="name"/> in messages (an rbd node as json:{...}).</summary>
    public static string NodeName(string name) => RbdSpec.IsRbdName(name) ? SafeRbdJsonName(name) : name;

    private static string SafeRbdJsonName(string name)
    {
        try { return RbdSpec.ParseName(name).JsonName; }
        catch (ImageFormatException) { return name; }
    }

    /// <summary>
    /// The name for <c>--image-opts</c> naming a network protocol, as the driver (<c>driver=nbd,server.type=...</c>,
    /// <c>driver=rbd,pool=...,image=...</c>) or as the container of a format (<c>driver=qcow2,file.driver=nbd,...</c>);
    /// null otherwise.
    /// </summary>
    public static string? NameFromOptions(ImageOptions options)
    {
        if (options.GetString("driver") == "nbd") return NbdAddress.FromOptions(options, "").ToString();
        if (options.GetString("file.driver") == "nbd") return NbdAddress.FromOptions(options, "file.").ToString();
        if (options.GetString("driver") == "rbd") return RbdSpec.FromOptions(options, "").ToName();
        if (options.GetString("file.driver") == "rbd") return RbdSpec.FromOptions(options, "file.").ToName();
        return null;
    }
}
