using ImageTool.IO;
using ImageTool.Options;

namespace ImageTool.Formats.Cow;

/// <summary>
/// User-Mode Linux copy-on-write files (ubd "cow"). qemu dropped its driver in 2.2; we read versions
/// 1-3 and write version 3 the way UML's uml_mkcow does.
/// </summary>
internal sealed class CowFormat : IImageFormat
{
    public static readonly CowFormat Instance = new();

    public string Name => "cow";
    public int ProbeSize => 8;

    public int Probe(ReadOnlySpan<byte> header) =>
        CowHeader.HasMagic(header) && CowHeader.ReadVersion(header) is >= 1 and <= 3 ? 100 : 0;

    public IReadOnlyList<OptionSpec> CreateOptions { get; } =
    [
        FileProtocolOptions.Size,
        new("backing_file", OptionType.String, "File name of a base image"),
        // UML bases are plain files; the default spares the -F that other formats need.
        new("backing_fmt", OptionType.String, "Format of the backing image (raw only)", Default: "raw"),
    ];

    public IImage Open(string path, OpenOptions options)
    {
        var file = HostFile.Open(path, options.ReadOnly);
        try
        {
            return CowImage.Open(file, this);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// With a backing file: UML's header (absolute path, the base's byte size and mtime). Without one
    /// (a convert target): the requested size and an empty path. The bitmap and data stay sparse.
    /// </summary>
    public void Create(string path, CreateParameters parameters)
    {
        string? backingName = parameters.BackingFile;
        string? backingFormat = parameters.BackingFormat;
        if (backingFormat != null && backingFormat != "raw")
            throw new UnsupportedFeatureException($"cow backing files are plain files: backing format '{backingFormat}' is not supported, use raw");
        string backing = "";
        uint mtime = 0;
        ulong size = (ulong)parameters.Size;
        if (backingName != null)
        {
            backing = Path.GetFullPath(BackingPath.Resolve(path, backingName));
            if (System.Text.Encoding.UTF8.GetByteCount(backing) > CowHeader.PathLengthV3 - 1)
                throw new ImageFormatException($"Backing file name \"{backing}\" is too long - names are limited to {CowHeader.PathLengthV3 - 1} characters");
            var info = new FileInfo(backing);
            if (!info.Exists) throw new ImageFormatException($"Could not open '{backing}': No such file or directory");
            size = (ulong)info.Length;
            mtime = (uint)new DateTimeOffset(info.LastWriteTimeUtc).ToUnixTimeSeconds();
        }
        var header = new CowHeader(3, backing, mtime, size, CowHeader.DefaultSectorSize, CowHeader.DefaultAlignment, 0, CowHeader.V3Size);
        var head = new byte[CowHeader.V3Size];
        header.WriteV3(head);
        using var file = HostFile.Create(path);
        file.Write(0, head);
        file.SetLength(header.DataOffset + (long)size);
        file.Flush();
    }
}
