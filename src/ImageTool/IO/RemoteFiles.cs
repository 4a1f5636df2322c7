using ImageTool.Nbd;
using ImageTool.Options;

namespace ImageTool.IO;

/// <summary>The URL schemes whose names <see cref="HostFile.Open(string, bool)"/> opens over the network (nbd://, nbd+unix://).</summary>
internal static class RemoteFiles
{
    public static bool IsRemote(string name) => NbdAddress.IsNbdUrl(name);

    /// <summary>Connects when <paramref name="name"/> is a URL of a known protocol; null for a host path.</summary>
    public static IRemoteFile? TryOpen(string name, bool readOnly) =>
        NbdAddress.IsNbdUrl(name) ? NbdRemoteFile.Open(NbdAddress.ParseUrl(name), readOnly)
        : Protocols.Vvfat.VvfatName.IsVvfat(name) ? Protocols.Vvfat.VvfatDisk.Open(name, readOnly, warning: null)
        : null;

    /// <summary>
    /// The URL for <c>--image-opts</c> naming a network protocol, as the driver (<c>driver=nbd,server.type=...</c>)
    /// or as the container of a format (<c>driver=qcow2,file.driver=nbd,file.server...</c>); null otherwise.
    /// </summary>
    public static string? NameFromOptions(ImageOptions options)
    {
        if (options.GetString("driver") == "nbd") return NbdAddress.FromOptions(options, "").ToString();
        if (options.GetString("file.driver") == "nbd") return NbdAddress.FromOptions(options, "file.").ToString();
        return null;
    }
}
