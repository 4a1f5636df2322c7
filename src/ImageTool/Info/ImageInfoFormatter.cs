using System.Globalization;
using System.Text;

namespace ImageTool.Info;

/// <summary>Renders <see cref="ImageInfo"/> exactly as qemu-img 7.2's <c>info</c> does, human and JSON.</summary>
internal static class ImageInfoFormatter
{
    public static string Human(IReadOnlyList<ImageInfo> chain)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < chain.Count; i++)
        {
            if (i > 0) sb.Append('\n');
            Human(sb, chain[i]);
        }
        return sb.ToString();
    }

    private static void Human(StringBuilder sb, ImageInfo info)
    {
        var c = CultureInfo.InvariantCulture;
        sb.Append(c, $"image: {info.Filename}\n");
        sb.Append(c, $"file format: {info.Format}\n");
        sb.Append(c, $"virtual size: {HumanSize.Format(info.VirtualSize)} ({info.VirtualSize} bytes)\n");
        sb.Append(c, $"disk size: {(info.ActualSize is long a ? HumanSize.Format(a) : "unavailable")}\n");
        if (info.Encrypted) sb.Append("encrypted: yes\n");
        if (info.ClusterSize is long cs) sb.Append(c, $"cluster_size: {cs}\n");
        if (info.DirtyFlag == true) sb.Append("cleanly shut down: no\n");
        if (info.BackingFilename != null)
        {
            sb.Append(c, $"backing file: {info.BackingFilename}");
            if (info.FullBackingFilename == null) sb.Append(" (cannot determine actual path)");
            else if (info.FullBackingFilename != info.BackingFilename) sb.Append(c, $" (actual path: {info.FullBackingFilename})");
            sb.Append('\n');
        }
        if (info.BackingFilenameFormat != null) sb.Append(c, $"backing file format: {info.BackingFilenameFormat}\n");
        if (info.Snapshots.Count > 0)
        {
            sb.Append("Snapshot list:\n");
            SnapshotTable.Write(sb, info.Snapshots);
        }
        if (info.FormatSpecificData != null)
        {
            sb.Append("Format specific information:\n");
            HumanTreeWriter.WriteObject(sb, info.FormatSpecificData, 1);
        }
    }

    public static string Json(IReadOnlyList<ImageInfo> chain, bool asList) =>
        QemuJsonWriter.Write(asList ? new InfoList(chain.Select(ToNode).ToList()) : ToNode(chain[0]));

    public static InfoObject ToNode(ImageInfo info)
    {
        var o = new InfoObject()
            .Add("filename", info.Filename)
            .Add("format", info.Format)
            .Add("virtual-size", info.VirtualSize);
        if (info.ActualSize is long a) o.Add("actual-size", a);
        if (info.ClusterSize is long cs) o.Add("cluster-size", cs);
        if (info.DirtyFlag is bool dirty) o.Add("dirty-flag", dirty);
        if (info.Encrypted) o.Add("encrypted", true);
        o.Add("backing-filename", info.BackingFilename);
        o.Add("full-backing-filename", info.FullBackingFilename);
        o.Add("backing-filename-format", info.BackingFilenameFormat);
        if (info.Snapshots.Count > 0)
            o.Add("snapshots", new InfoList(info.Snapshots.Select(s => (InfoNode)s.ToInfoNode()).ToList()));
        if (info.FormatSpecificData != null)
            o.Add("format-specific", new InfoObject().Add("type", info.FormatSpecificType).Add("data", info.FormatSpecificData));
        return o;
    }
}
