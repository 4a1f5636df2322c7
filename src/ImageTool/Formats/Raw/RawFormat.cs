using ImageTool.IO;
using ImageTool.Operations;
using ImageTool.Options;

namespace ImageTool.Formats.Raw;

/// <summary>Plain disk bytes in a (sparse) file; the fallback every probe ends in.</summary>
internal sealed class RawFormat : IImageFormat, IMeasurableFormat
{
    public static readonly RawFormat Instance = new();

    public string Name => "raw";
    public int ProbeSize => 0;

    // qemu's raw_probe: the smallest positive score, so any real format wins.
    public int Probe(ReadOnlySpan<byte> header) => 1;

    public IReadOnlyList<OptionSpec> CreateOptions { get; } =
        [FileProtocolOptions.Size, .. FileProtocolOptions.All];

    public IImage Open(string path, OpenOptions options) =>
        RawWindowImage.Open(RawVolumeImage.Open(HostFile.Open(path, options), this, options.FormatWasProbed && !options.ReadOnly,
            // With O_DIRECT (cache.direct=on) qemu's requests, block status included, are whole sectors.
            statusAlignment: options.Cache is CacheMode.None or CacheMode.DirectSync
                || options.DriverOptions?.GetString("cache.direct") is "on" or "true" or "yes"
                || options.DriverOptions?.GetString("file.cache.direct") is "on" or "true" or "yes" ? 512 : 1),
            options.DriverOptions);

    // qemu's raw_measure: the source's whole virtual size, or the size rounded up to whole sectors.
    public MeasureResult Measure(ImageOptions options, long? size, IImage? source, CancellationToken cancellationToken)
    {
        long required = source?.Length ?? ((size ?? options.GetSize("size") ?? 0) + 511) / 512 * 512;
        return new MeasureResult(required, required, null);
    }

    public void Create(string path, CreateParameters parameters)
    {
        string mode = parameters.Options.GetString("preallocation") ?? "off";
        if (mode == "metadata") throw new ImageFormatException("Unsupported preallocation mode: metadata");
        if (mode is not ("off" or "falloc" or "full")) throw new ImageFormatException($"invalid parameter value: {mode}");
        long size = parameters.Size;
        if (RemoteFiles.IsVolume(path))
        {
            // qemu's raw create over a volume protocol (rbd) creates the volume; it takes no preallocation.
            RemoteFiles.CreateVolume(path, size, parameters.Options.GetSize("cluster_size") ?? 0);
            return;
        }
        using var file = HostFile.Create(path);
        CreateOnFile(file, size, mode);
    }

    /// <summary>Sizes a fresh file the way qemu's file driver does; also used for data files of other formats.</summary>
    internal static void CreateOnFile(HostFile file, long size, string preallocation)
    {
        // qemu's host_device create writes nothing: it only checks that the device is large enough.
        if (file.IsDevice)
        {
            file.SetLength(size);
            return;
        }
        file.SetLength(size);
        switch (preallocation)
        {
            case "falloc":
                file.Allocate(0, size);
                break;
            case "full":
                ZeroFill(file, 0, size);
                break;
            default:
                // qemu writes the first 4 KiB so it can probe alignment later: "disk size: 4 KiB".
                if (size > 0) file.Write(0, new byte[Math.Min(size, 4096)]);
                break;
        }
        file.Flush();
    }

    internal static void ZeroFill(HostFile file, long offset, long length)
    {
        var zeros = new byte[(int)Math.Min(length, 1 << 20)];
        for (long done = 0; done < length; done += zeros.Length)
            file.Write(offset + done, zeros.AsSpan(0, (int)Math.Min(zeros.Length, length - done)));
    }
}
