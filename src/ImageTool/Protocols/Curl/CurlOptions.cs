using System.Globalization;
using ImageTool.Options;

namespace ImageTool.Protocols.Curl;

/// <summary>The options of qemu's curl drivers (block/curl.c), from --image-opts or their defaults.</summary>
internal sealed record CurlOptions
{
    /// <summary>qemu's READ_AHEAD_DEFAULT.</summary>
    public const int DefaultReadahead = 256 << 10;

    /// <summary>qemu's CURL_TIMEOUT_DEFAULT, in seconds.</summary>
    public const int DefaultTimeout = 5;

    private static readonly string[] Names =
    [
        "url", "readahead", "timeout", "sslverify", "cookie", "cookie-secret", "username", "password-secret",
        "proxy-username", "proxy-password-secret",
    ];

    public int Readahead { get; init; } = DefaultReadahead;
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(DefaultTimeout);
    public bool SslVerify { get; init; } = true;
    public string? Cookie { get; init; }
    public string? Username { get; init; }
    public string? Password { get; init; }
    public string? ProxyUsername { get; init; }
    public string? ProxyPassword { get; init; }

    /// <summary>Reads the driver's options: top-level when the protocol is the driver, else the file child's (file.*).</summary>
    public static CurlOptions From(string protocol, OpenOptions options, bool topLevel)
    {
        var all = options.DriverOptions;
        if (all == null) return new CurlOptions();
        string prefix = topLevel ? "" : "file.";
        if (topLevel)
        {
            foreach (var key in all.Values.Keys)
                if (key != "driver" && !Names.Contains(key))
                    throw new ImageFormatException($"Block protocol '{protocol}' doesn't support the option '{key}'");
        }
        string? Get(string name) => all.GetString(prefix + name);
        string? Secret(string name) =>
            Get(name) is not { } id ? null : SecretObjects.Lookup(options.Secrets, id);

        long readahead = Get("readahead") is { } r ? Size(r, "readahead") : DefaultReadahead;
        if ((readahead & 511) != 0) throw new ImageFormatException($"HTTP_READAHEAD_SIZE {readahead} is not a multiple of 512");
        long timeout = Get("timeout") is { } t ? Size(t, "timeout") : DefaultTimeout;
        return new CurlOptions
        {
            Readahead = (int)Math.Min(readahead, 64 << 20),
            // curl's 0 means no limit; every wait here stays bounded, so 0 becomes a generous limit.
            Timeout = TimeSpan.FromSeconds(timeout == 0 ? 600 : Math.Min(timeout, 100_000)),
            SslVerify = Get("sslverify") is not { } v || Bool(v, "sslverify"),
            Cookie = Get("cookie") ?? Secret("cookie-secret"),
            Username = Get("username"),
            Password = Secret("password-secret"),
            ProxyUsername = Get("proxy-username"),
            ProxyPassword = Secret("proxy-password-secret"),
        };
    }

    private static long Size(string text, string name) =>
        SizeParser.TryParse(text, out long value, out _, out _) ? value
        : long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) ? value
        : throw new ImageFormatException($"Parameter '{name}' expects a non-negative number below 2^64");

    private static bool Bool(string text, string name) => text switch
    {
        "on" or "yes" or "true" => true,
        "off" or "no" or "false" => false,
        _ => throw new ImageFormatException($"Parameter '{name}' expects 'on' or 'off'"),
    };
}
