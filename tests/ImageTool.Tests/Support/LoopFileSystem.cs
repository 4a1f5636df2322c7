namespace ImageTool.Tests.Support;

/// <summary>
/// A file system (xfs with reflink, btrfs, ext4) made in a scratch file and loop-mounted (<c>mount -o loop</c>,
/// through <c>sudo -n</c> when not root), unmounted at dispose. Where the kernel or the sandbox refuses the
/// mount the test is skipped with the reason; under CI=true it fails when loop devices work at all.
/// </summary>
public sealed class LoopFileSystem : IDisposable
{
    /// <summary>The mount point, writable by the test.</summary>
    public string Path { get; }

    private LoopFileSystem(string path) => Path = path;

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public static LoopFileSystem Mount(string scratchDir, string type, long size)
    {
        string image = System.IO.Path.Combine(scratchDir, type + ".fs");
        string mountPoint = System.IO.Path.Combine(scratchDir, type);
        Directory.CreateDirectory(mountPoint);
        using (var f = File.Create(image)) f.SetLength(size);
        var mkfs = type switch
        {
            "xfs" => Tools.Run("mkfs.xfs", "-q", "-m", "reflink=1", image),
            "btrfs" => Tools.Run("mkfs.btrfs", "-q", image),
            _ => Tools.Run("mkfs." + type, "-q", "-F", image),
        };
        mkfs.Ok();
        var mount = AsRoot("mount", "-o", "loop", image, mountPoint);
        if (mount.ExitCode != 0)
        {
            string reason = $"mount -o loop of a {type} file system refused here: {mount.Stderr.Trim()}";
            if (Tools.InCi && LoopDevicesWork(scratchDir)) Assert.Fail(reason);
            Assert.Ignore(reason);
        }
        var fs = new LoopFileSystem(mountPoint);
        AsRoot("chown", $"{Environment.GetEnvironmentVariable("UID") ?? Tools.Run("id", "-u").Stdout.Trim()}", mountPoint);
        return fs;
    }

    private static bool LoopDevicesWork(string scratchDir)
    {
        string probe = System.IO.Path.Combine(scratchDir, "probe.bin");
        using (var f = File.Create(probe)) f.SetLength(1 << 20);
        var attach = AsRoot("losetup", "-f", "--show", probe);
        if (attach.ExitCode != 0) return false;
        AsRoot("losetup", "-d", attach.Stdout.Trim());
        return true;
    }

    private static Tools.Result AsRoot(string tool, params string[] args) =>
        Environment.UserName == "root" ? Tools.Run(tool, args) : Tools.Run("sudo", ["-n", tool, .. args]);

    public void Dispose()
    {
        if (AsRoot("umount", Path).ExitCode != 0) AsRoot("umount", "-l", Path);
    }
}
