using ImageTool.Options;

namespace ImageTool.Formats;

/// <summary>A format provider: probing, opening and creating one kind of image.</summary>
internal interface IImageFormat
{
    /// <summary>The format name as qemu-img spells it ("qcow2", "raw", ...).</summary>
    string Name { get; }

    /// <summary>How many leading bytes <see cref="Probe(ReadOnlySpan{byte})"/> wants (at most 2048, qemu's probe buffer).</summary>
    int ProbeSize { get; }

    /// <summary>0 = not this format, 100 = certain; raw answers 1 so it wins only when nothing else does.</summary>
    int Probe(ReadOnlySpan<byte> header);

    /// <summary>As <see cref="Probe(ReadOnlySpan{byte})"/>, for formats qemu also recognises by file name (dmg).</summary>
    int Probe(ReadOnlySpan<byte> header, string? fileName) => Probe(header);

    /// <summary>The <c>-o</c> options <c>create</c> accepts, in qemu's declaration order.</summary>
    IReadOnlyList<OptionSpec> CreateOptions { get; }

    /// <summary>Opens one image of this format (the caller attaches its backing chain).</summary>
    IImage Open(string path, OpenOptions options);

    /// <summary>Its images take compressed writes (<c>convert -c</c>), checked before a target is created.</summary>
    bool SupportsCompressedWrites => false;

    /// <summary>
    /// A new image reads as zeros where nothing was written (qemu's bdrv_has_zero_init), so convert may skip zeros; a raw
    /// LUKS container's unwritten payload decrypts to noise instead.
    /// </summary>
    bool NewImagesReadAsZeros => true;

    /// <summary>Creates (or replaces) the image; the options were validated against <see cref="CreateOptions"/>.</summary>
    void Create(string path, CreateParameters parameters);
}
