using ImageTool.Formats.Raw;
using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Protocols.Curl;

/// <summary>
/// qemu's curl protocol drivers (block/curl.c; http, https, ftp, ftps): read-only images named by URL. As a
/// file name the URL is the protocol with the format probed on top; named as a driver (<c>-f http</c>,
/// <c>--image-opts driver=http,url=...</c>) the remote bytes are the disk, reported under the protocol's name.
/// </summary>
internal sealed class CurlProtocol : Formats.IImageFormat
{
    public static readonly CurlProtocol Http = new("http");
    public static readonly CurlProtocol Https = new("https");
    public static readonly CurlProtocol Ftp = new("ftp");
    public static readonly CurlProtocol Ftps = new("ftps");

    /// <summary>tftp: gone from qemu 7.2 (older qemu reached it through curl); img reads it for sequential consumers.</summary>
    public static readonly CurlProtocol Tftp = new("tftp");

    private static readonly CurlProtocol[] All = [Http, Https, Ftp, Ftps, Tftp];

    private CurlProtocol(string name) => Name = name;

    public string Name { get; }
    public int ProbeSize => 0;
    public int Probe(ReadOnlySpan<byte> header) => 0;
    public IReadOnlyList<OptionSpec> CreateOptions => [];

    /// <summary>The curl protocol a file name starts with ("http://..."), or null for a local path.</summary>
    public static CurlProtocol? ForUrl(string name)
    {
        int colon = name.IndexOf("://", StringComparison.Ordinal);
        if (colon <= 0) return null;
        string scheme = name[..colon];
        return All.FirstOrDefault(p => p.Name == scheme);
    }

    public IImage Open(string path, OpenOptions options) =>
        new RawImage(HostFile.Open(path, options), this, guardBlockZero: false);

    // DiskImage.Create refuses before its "Formatting" line, as qemu-img does.
    public void Create(string path, CreateParameters parameters) =>
        throw new ImageFormatException($"Format driver '{Name}' does not support image creation");

    /// <summary>Opens the remote bytes of <paramref name="url"/>; <paramref name="driver"/> is the protocol named for it, if any.</summary>
    public static IByteSource OpenSource(string url, OpenOptions options, CurlProtocol? driver)
    {
        var protocol = driver ?? ForUrl(url)!;
        var curl = CurlOptions.From(protocol.Name, options, topLevel: driver != null && options.Format == protocol.Name);
        if (!url.StartsWith(protocol.Name + "://", StringComparison.OrdinalIgnoreCase))
            throw new ImageFormatException($"{protocol.Name} curl driver cannot handle the URL '{url}' (does not start with '{protocol.Name}://')");
        if (!options.ReadOnly) throw new ImageFormatException("curl driver does not support writes");
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
            throw new ImageFormatException($"CURL: Error opening file: URL using bad/illegal format or missing URL");
        if (protocol == Tftp) return TftpSource.Open(uri, curl);
        if (protocol == Ftp || protocol == Ftps) return FtpSource.Open(uri, tls: protocol == Ftps, curl);
        return HttpSource.Open(uri, curl);
    }
}
