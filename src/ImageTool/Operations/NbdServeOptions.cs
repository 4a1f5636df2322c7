namespace ImageTool.Operations;

/// <summary>What <c>img nbd</c> serves and how, in qemu-nbd's terms.</summary>
internal sealed record NbdServeOptions
{
    /// <summary>The image to serve (any format and backing chain).</summary>
    public required string Path { get; init; }

    /// <summary>How to open it (format, --image-opts, secrets); ReadOnly is taken from <see cref="ReadOnly"/>.</summary>
    public OpenOptions Open { get; init; } = new();

    /// <summary>-x: the export name ("" by default).</summary>
    public string ExportName { get; init; } = "";

    /// <summary>-D: a description sent to clients that ask.</summary>
    public string? Description { get; init; }

    /// <summary>-r: export read-only.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>-s: writes go to a temporary qcow2 overlay; the image is opened read-only.</summary>
    public bool Snapshot { get; init; }

    /// <summary>-t: keep serving after the last client has left.</summary>
    public bool Persistent { get; init; }

    /// <summary>-e: how many clients may be connected at once.</summary>
    public int Shared { get; init; } = 1;

    /// <summary>-b: the address to listen on.</summary>
    public string Bind { get; init; } = "0.0.0.0";

    /// <summary>-p: the TCP port.</summary>
    public int Port { get; init; } = 10809;

    /// <summary>-k: listen on this Unix socket instead of TCP.</summary>
    public string? SocketPath { get; init; }

    /// <summary>--discard=unmap: TRIM and WRITE_ZEROES may deallocate.</summary>
    public bool Discard { get; init; }

    /// <summary>-A: offer the qemu:allocation-depth meta context.</summary>
    public bool AllocationDepth { get; init; }

    /// <summary>--tls-creds: the id of a tls-creds-x509 object (endpoint=server); clients must then use TLS.</summary>
    public string? TlsCreds { get; init; }

    /// <summary>--tls-authz: the id of an authz-simple object naming the one client certificate let in.</summary>
    public string? TlsAuthz { get; init; }

    /// <summary>-B (repeatable): persistent dirty bitmaps of the image (or its backing chain) offered as qemu:dirty-bitmap:NAME.</summary>
    public IReadOnlyList<string> Bitmaps { get; init; } = [];

    /// <summary>-o: the export starts this many bytes into the image.</summary>
    public long Offset { get; init; }
}
