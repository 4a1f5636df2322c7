using ImageTool.Formats;
using ImageTool.Options;

namespace ImageTool.Protocols.Null;

/// <summary>
/// qemu's null-co and null-aio drivers: a disk of <c>size</c> bytes (1 GiB unless told) that keeps nothing;
/// with <c>read-zeroes=on</c> it reads, and reports, zeros. Named as <c>null-co://</c> or through options
/// (<c>json:{"driver": "null-co", "size": N}</c>, <c>--image-opts driver=null-co</c>).
/// </summary>
internal sealed class NullProtocol : IImageFormat
{
    public static readonly NullProtocol Co = new("null-co");
    public static readonly NullProtocol Aio = new("null-aio");

    private const long DefaultSize = 1L << 30;

    private NullProtocol(string name) => Name = name;

    public string Name { get; }
    public string UrlPrefix => Name + "://";
    public int ProbeSize => 0;
    public int Probe(ReadOnlySpan<byte> header) => 0;

    // qemu's null drivers have no create options: "Format driver 'null-co' does not support image creation".
    public IReadOnlyList<OptionSpec> CreateOptions => [];

    /// <summary>The driver a name such as <c>null-co://</c> selects, or null.</summary>
    public static NullProtocol? ForName(string name) =>
        name.StartsWith(Co.UrlPrefix, StringComparison.Ordinal) ? Co
        : name.StartsWith(Aio.UrlPrefix, StringComparison.Ordinal) ? Aio
        : null;

    public IImage Open(string path, OpenOptions options)
    {
        var driverOptions = options.DriverOptions ?? new ImageOptions();
        long size;
        bool readZeroes;
        try
        {
            size = driverOptions.GetSize("size") ?? DefaultSize;
            readZeroes = driverOptions.GetBool("read-zeroes") ?? false;
        }
        catch (ArgumentException e)
        {
            throw new ImageFormatException(e.Message, e);
        }
        return new NullImage(this, path, size, readZeroes, options.ReadOnly);
    }

    public void Create(string path, CreateParameters parameters) =>
        throw new UnsupportedFeatureException($"Format driver '{Name}' does not support image creation");
}
