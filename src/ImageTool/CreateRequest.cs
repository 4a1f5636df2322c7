using ImageTool.Options;

namespace ImageTool;

/// <summary>What <c>img create</c> asks for: <see cref="DiskImage.Create"/>'s argument.</summary>
/// <param name="Path">The new image's file name.</param>
/// <param name="Format">Format name (<c>qcow2</c>, <c>raw</c>, ...; see <see cref="DiskImage.FormatNames"/>).</param>
public sealed record CreateRequest(string Path, string Format)
{
    /// <summary>Size from the command line; null to take it from -o size or the backing file.</summary>
    public long? Size { get; init; }
    /// <summary>The format's <c>-o</c> options (backing_file, cluster_size, ...).</summary>
    public ImageOptions Options { get; init; } = new();
    /// <summary>qemu's -u: do not open the backing file (a size is then needed).</summary>
    public bool UnsafeBacking { get; init; }
    /// <summary>Secrets by id, for encryption options that name them (<c>encrypt.key-secret</c>).</summary>
    public IReadOnlyDictionary<string, string>? Secrets { get; init; }
    /// <summary>
    /// A backing file given without its format is probed once and the result recorded in the new image (the
    /// tutorial's <c>create -b xp.img -f qcow2 xp.test</c>); false refuses it as qemu-img 7.2 does.
    /// </summary>
    public bool RecordProbedBackingFormat { get; init; }
    /// <summary>Receives warnings, such as the backing format that was probed and recorded.</summary>
    public Action<string>? Warning { get; init; }
}
