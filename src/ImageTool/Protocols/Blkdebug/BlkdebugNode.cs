using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Protocols.Blkdebug;

/// <summary>
/// qemu's blkdebug protocol under an image (<c>blkdebug:CONFIG:FILE</c>, or <c>"file": {"driver": "blkdebug",
/// "inject-error": [...], "image": {...}}</c>): requests pass through to the file below, and the format's debug
/// events arm rules that fail the following requests with a chosen errno. <see cref="HostFile"/> consults it before
/// each request, so the file below keeps everything a file has (locks, growth, holes).
/// </summary>
internal sealed class BlkdebugNode
{
    public const string Prefix = "blkdebug:";

    private readonly List<BlkdebugRule> _rules;
    private readonly List<BlkdebugRule> _armed = [];
    private readonly object _lock = new();
    private int _state = 1;

    private BlkdebugNode(List<BlkdebugRule> rules)
    {
        _rules = rules;
        Event(BlkdebugEvent.None);
    }

    public static bool IsBlkdebugName(string name) => name.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>Splits <c>blkdebug:CONFIG:FILE</c>; CONFIG may be empty.</summary>
    public static (string? Config, string Image) ParseName(string name)
    {
        string rest = name[Prefix.Length..];
        int colon = rest.IndexOf(':');
        if (colon < 0) throw new ImageFormatException("blkdebug requires both config file and image path");
        return (colon == 0 ? null : rest[..colon], rest[(colon + 1)..]);
    }

    /// <summary>The name of a blkdebug node given by options under <paramref name="prefix"/> (e.g. <c>file.</c>), or null.</summary>
    public static string? NameFromOptions(ImageOptions options, string prefix)
    {
        if (options.GetString(prefix + "driver") != "blkdebug") return null;
        string? image = options.GetString(prefix + "image.filename") ?? options.GetString(prefix + "image")
            ?? options.GetString(prefix + "x-image");
        return image == null ? null : Prefix + (options.GetString(prefix + "config") ?? "") + ":" + image;
    }

    /// <summary>The rules of <paramref name="name"/>'s config file and of the options under <paramref name="prefix"/>.</summary>
    public static BlkdebugNode Open(string name, ImageOptions? options, string prefix) =>
        new(BlkdebugConfig.Read(ParseName(name).Config, options, prefix));

    /// <summary>The rules of a node given wholly by options (<c>driver=blkdebug,config=...,inject-error.0.event=...</c>).</summary>
    public static BlkdebugNode FromOptions(ImageOptions options) =>
        new(BlkdebugConfig.Read(options.GetString("config"), options, ""));

    /// <summary>
    /// A format reached one of its debug points: inject-error rules of this event and state replace the armed set,
    /// set-state rules move the node to their new state once every rule ran.
    /// </summary>
    public void Event(string name)
    {
        lock (_lock)
        {
            int newState = _state;
            bool injected = false;
            foreach (var rule in _rules.Where(r => r.Event == name).ToList())
            {
                if (rule.State != 0 && rule.State != _state) continue;
                if (rule.SetsState)
                {
                    newState = rule.NewState;
                    continue;
                }
                if (!injected) _armed.Clear();
                injected = true;
                _armed.Insert(0, rule);
            }
            _state = newState;
        }
    }

    /// <summary>Fails the request when an armed rule covers it (a once-rule then goes away).</summary>
    /// <exception cref="IOException">The rule's errno, worded as strerror.</exception>
    public void Check(long offset, long length, BlkdebugIoType type)
    {
        int errno;
        lock (_lock)
        {
            var rule = _armed.FirstOrDefault(r => r.Matches(offset, length, type));
            if (rule == null || rule.Errno == 0) return;
            errno = rule.Errno;
            if (rule.Once)
            {
                _armed.Remove(rule);
                _rules.Remove(rule);
            }
        }
        throw new IOException(Native.ErrorText(errno)) { HResult = errno };
    }
}
