namespace ImageTool.Options;

/// <summary>
/// The options that change what a block driver's node reads (qemu 7.2's per-driver <c>strong_runtime_opts</c>):
/// a node opened with one of them can no longer be named by its file alone, so qemu names it with a
/// <c>json:{...}</c> of its options. A name ending in a dot stands for every option below it.
/// </summary>
internal static class StrongRuntimeOptions
{
    private static readonly string[] Curl =
        ["url", "sslverify", "cookie", "cookie-secret", "username", "password-secret", "proxy-username", "proxy-password-secret"];

    private static readonly string[] Null = ["size", "read-zeroes"];

    private static readonly Dictionary<string, string[]> ByDriver = new(StringComparer.Ordinal)
    {
        ["raw"] = ["offset", "size"],
        ["vpc"] = ["force_size_calc"],
        ["qcow"] = ["encrypt.key-secret"],
        ["qcow2"] = ["encrypt.key-secret"],
        ["luks"] = ["key-secret"],
        ["blkdebug"] = ["config", "inject-error.", "set-state.", "align", "max-transfer", "opt-write-zero", "max-write-zero", "opt-discard", "max-discard"],
        ["null-co"] = Null,
        ["null-aio"] = Null,
        ["nbd"] = ["path", "host", "port", "export", "tls-creds", "tls-hostname", "server."],
        ["http"] = Curl,
        ["https"] = Curl,
        ["ftp"] = Curl,
        ["ftps"] = Curl,
        ["rbd"] = ["pool", "namespace", "image", "conf", "snapshot", "user", "server.", "password-secret"],
        ["vvfat"] = ["dir", "fat-type", "floppy", "label", "rw"],
        ["quorum"] = ["vote-threshold", "blkverify", "rewrite-corrupted", "read-pattern"],
    };

    /// <summary>The driver's strong options in qemu's order; none for drivers without a list (file, vmdk, vdi, ...).</summary>
    public static IReadOnlyList<string> Of(string driver) => ByDriver.TryGetValue(driver, out var list) ? list : [];
}
