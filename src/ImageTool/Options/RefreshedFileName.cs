using System.Text;
using ImageTool.Formats;
using ImageTool.Info;

namespace ImageTool.Options;

/// <summary>
/// The name qemu gives a node opened from options (<c>--image-opts</c>, <c>json:{...}</c>), as its
/// bdrv_refresh_filename works it out bottom-up: a protocol node is its file name, a format node is its file's name
/// as long as none of the format's strong options (<see cref="StrongRuntimeOptions"/>) is set, and a node without
/// such a plain name is <c>json:</c> followed by the options that rebuild it (driver, file name, strong options and
/// children, in qemu's hash order).
/// </summary>
internal static class RefreshedFileName
{
    /// <summary>The name of an image opened as <paramref name="name"/> with <paramref name="options"/>.</summary>
    /// <param name="image">The image; its file name is the name of protocols whose URL img assembled (nbd, curl, rbd).</param>
    /// <param name="name">The name it was opened by: a path, or a <c>json:</c> name.</param>
    /// <param name="options">Its --image-opts, or null.</param>
    public static string Of(IImage image, string name, ImageOptions? options)
    {
        if (options == null && JsonFileName.Is(name)) options = JsonFileName.Parse(name);
        string path = image.FileName;
        if (options == null) return path;
        string format = image.Format.Name;
        var node = Refresh(options, "", options.GetString("driver") ?? format, path);
        return node.Exact ?? JsonFileName.Prefix + Json(node.Options);
    }

    /// <summary>The name of the node given by the options under <paramref name="prefix"/> (<c>file.</c>), driven by <paramref name="driver"/>.</summary>
    public static string OfNode(ImageOptions all, string prefix, string driver)
    {
        var node = Refresh(all, prefix, driver, "");
        return node.Exact ?? JsonFileName.Prefix + Json(node.Options);
    }

    /// <summary>A refreshed node: its plain name if it has one, and the options that rebuild it, in insertion order.</summary>
    private sealed record Node(string? Exact, List<(string Key, object Value)> Options, string Driver);

    /// <summary>A value put in the options as given: quoted unless a json: name gave it as a number or boolean.</summary>
    private sealed record Literal(string Text);

    private static Node Refresh(ImageOptions all, string prefix, string driver, string path)
    {
        var own = new List<string>();
        var children = new List<string>();
        foreach (string full in all.Values.Keys)
        {
            if (!full.StartsWith(prefix, StringComparison.Ordinal)) continue;
            string key = full[prefix.Length..];
            if (ChildOf(driver, key) is { } child)
            {
                if (!children.Contains(child)) children.Add(child);
            }
            else
            {
                own.Add(key);
            }
        }

        var options = new List<(string Key, object Value)>();
        object ValueOf(string key) => all.IsLiteral(prefix + key) ? new Literal(all.Values[prefix + key]) : all.Values[prefix + key];
        foreach (string global in (string[])["driver", "filename"])
            if (own.Contains(global)) options.Add((global, ValueOf(global)));
        bool strong = false;
        foreach (string name in StrongRuntimeOptions.Of(driver))
        {
            foreach (string key in own.Where(k => name.EndsWith('.') ? k.StartsWith(name, StringComparison.Ordinal) : k == name))
            {
                options.Add((key, ValueOf(key)));
                strong = true;
            }
        }
        if (!own.Contains("driver")) options.Add(("driver", driver));

        var refreshed = new Dictionary<string, Node>(StringComparer.Ordinal);
        // blkdebug's legacy x-image names its image child by file name.
        if (driver == "blkdebug" && !children.Contains("image") && all.GetString(prefix + "x-image") is { } xImage)
        {
            refreshed["image"] = FileChild(xImage);
            options.Add(("image", refreshed["image"].Options));
        }
        // qemu's children list is newest first; an image's backing file does not change its name (qemu-img info
        // does not even open it).
        foreach (string child in Enumerable.Reverse(children).Where(c => c != "backing"))
        {
            var node = RefreshChild(all, prefix + child, path);
            refreshed[child] = node;
            options.Add((child, node.Options));
        }

        // quorum_gather_child_options: its children as one list, in index order.
        if (driver == "quorum")
        {
            var list = options.Where(o => o.Key.StartsWith("children.", StringComparison.Ordinal))
                .OrderBy(o => int.TryParse(o.Key["children.".Length..], out int n) ? n : int.MaxValue).Select(o => o.Value).ToList();
            options.RemoveAll(o => o.Key.StartsWith("children.", StringComparison.Ordinal));
            options.Add(("children", list));
        }

        string? exact = ExactName(driver, all, prefix, own, options, refreshed, strong, path);
        return new Node(exact, options, driver);
    }

    /// <summary>A child given by options below <c>name.</c>, or by a file name alone (<c>file=x.qcow2</c>).</summary>
    private static Node RefreshChild(ImageOptions all, string name, string path)
    {
        if (all.GetString(name) is { } fileName) return FileChild(fileName);
        string prefix = name + ".";
        string childDriver = all.GetString(prefix + "driver")
            ?? (all.GetString(prefix + "filename") is { } f && IO.HostPath.ProtocolPrefix(f) is { } p && p != "file" ? p : "file");
        return Refresh(all, prefix, childDriver, path);
    }

    /// <summary>A child opened from a file name: the protocol its prefix names (the host file without one).</summary>
    private static Node FileChild(string fileName)
    {
        string? protocol = IO.HostPath.ProtocolPrefix(fileName);
        string driver = protocol == null || protocol == "file" ? "file" : protocol;
        return new Node(IO.HostPath.Display(fileName), [("driver", driver), ("filename", fileName)], driver);
    }

    /// <summary>The child a key belongs to (<c>file</c> for <c>file.filename</c>), or null for the node's own option.</summary>
    private static string? ChildOf(string driver, string key)
    {
        string first = key.Split('.')[0];
        bool isChild = driver switch
        {
            "blkdebug" => first == "image",
            "quorum" => first == "children" && key.Split('.').Length > 1,
            _ when IsProtocol(driver) => false,
            _ => first is "file" or "backing" or "data-file",
        };
        if (!isChild) return null;
        return first == "children" ? string.Join('.', key.Split('.').Take(2)) : first;
    }

    private static bool IsProtocol(string driver) => FormatRegistry.IsProtocol(driver) || driver is "blkdebug" or "vvfat";

    /// <summary>The plain name a driver's refresh gives, or null when only the options can name the node.</summary>
    private static string? ExactName(string driver, ImageOptions all, string prefix, List<string> own,
        List<(string Key, object Value)> options, Dictionary<string, Node> children, bool strong, string path)
    {
        switch (driver)
        {
            case "file" or "host_device" or "host_cdrom":
                return all.GetString(prefix + "filename") is { } name ? IO.HostPath.Display(name) : path;
            case "blkdebug":
                // blkdebug_refresh_filename: "blkdebug:CONFIG:IMAGE" unless another option shapes the node.
                if (!children.TryGetValue("image", out var image) || image.Exact == null || options.Any(o => o.Key is not ("config" or "image" or "x-image" or "driver"))) return null;
                return $"blkdebug:{all.GetString(prefix + "config")}:{image.Exact}";
            case "null-co" or "null-aio":
                return options.Any(o => o.Key is not ("filename" or "driver" or "latency-ns")) ? null : driver + "://";
            case "http" or "https" or "ftp" or "ftps":
                // curl_refresh_filename: readahead and timeout do not change the data, credentials and cookies do.
                bool verifies = all.GetString(prefix + "sslverify") is not ("off" or "false" or "no");
                return verifies && !own.Any(k => k is "cookie" or "cookie-secret" or "username" or "password-secret" or "proxy-username"
                    or "proxy-password-secret") ? all.GetString(prefix + "url") ?? path : null;
            case "quorum":
                return null;
            case var _ when IsProtocol(driver):
                return path;
            default:
                // A format is named by its file when that file is a protocol node with a plain name and nothing
                // strong changes what the format shows.
                return !strong && children.TryGetValue("file", out var file) && file.Exact != null && IsProtocol(file.Driver)
                    ? file.Exact : null;
        }
    }

    /// <summary>qemu's compact JSON (qobject_to_json): <c>{"key": value, ...}</c>, members in hash order.</summary>
    private static string Json(List<(string Key, object Value)> members)
    {
        var sb = new StringBuilder("{");
        var ordered = members.Select((m, i) => (m, i)).OrderBy(x => QemuHash.Bucket(x.m.Key)).ThenByDescending(x => x.i);
        bool first = true;
        foreach (var ((key, value), _) in ordered)
        {
            if (!first) sb.Append(", ");
            first = false;
            QemuJsonWriter.WriteString(sb, key);
            sb.Append(": ");
            switch (value)
            {
                case Literal l: sb.Append(l.Text); break;
                case List<(string, object)> nested: sb.Append(Json(nested)); break;
                case List<object> items: sb.Append('[').AppendJoin(", ", items.Select(i => Json((List<(string, object)>)i))).Append(']'); break;
                default: QemuJsonWriter.WriteString(sb, (string)value); break;
            }
        }
        return sb.Append('}').ToString();
    }
}
