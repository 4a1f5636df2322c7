using ImageTool.Options;

namespace ImageTool;

/// <summary>How to open an image.</summary>
public sealed record OpenOptions
{
    /// <summary>Open read-only (the default); false opens for writing and takes qemu's write lock.</summary>
    public bool ReadOnly { get; init; } = true;

    /// <summary>Format name; null probes the content.</summary>
    public string? Format { get; init; }

    /// <summary>Open the backing chain too (info does not, everything else does).</summary>
    public bool OpenBacking { get; init; } = true;

    /// <summary>qemu's -t cache mode; <see cref="CacheMode.Unsafe"/> skips fsync on flush.</summary>
    public CacheMode Cache { get; init; } = CacheMode.Writeback;

    /// <summary>qemu's -U: do not take the shared locks a reader normally takes.</summary>
    public bool ForceShare { get; init; }

    /// <summary>Driver options (qemu's --image-opts and encryption settings), e.g. encrypt.key-secret.</summary>
    public ImageOptions? DriverOptions { get; init; }

    /// <summary>Secrets by id, as qemu's <c>--object secret,id=ID,data=...</c>.</summary>
    public IReadOnlyDictionary<string, string>? Secrets { get; init; }

    /// <summary>
    /// Metadata only (qemu's BDRV_O_NO_IO, as info opens images): formats may skip what only data access needs,
    /// e.g. an encrypted qcow2 opens without its key; reading its data then fails.
    /// </summary>
    public bool MetadataOnly { get; init; }

    /// <summary>
    /// Receives warnings qemu-img prints on stderr (e.g. a probed raw image opened for writing), one line each
    /// unless <see cref="ImageWarning.EndsLine"/> says otherwise.
    /// </summary>
    public Action<ImageWarning>? Warning { get; init; }

    /// <summary>The name open errors show instead of the path (qemu shows the whole --image-opts string).</summary>
    public string? DisplayName { get; init; }

    /// <summary>Opened read-write to be repaired (qemu's BDRV_O_CHECK): a qcow2 image marked corrupt may be opened.</summary>
    public bool ForRepair { get; init; }

    /// <summary>Opened by check (qemu's BDRV_O_CHECK): damage the check reports (a vhdx BAT past the end of the file) does not fail the open.</summary>
    public bool ForCheck { get; init; }

    /// <summary>Set by the registry when the format was probed (not given).</summary>
    internal bool FormatWasProbed { get; init; }
}
