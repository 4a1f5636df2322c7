namespace ImageTool.Tests.Support;

/// <summary>
/// A loop device over a scratch file (<c>losetup -f --show</c>), detached at dispose. Where the kernel or the
/// sandbox refuses loop devices the test is skipped with the reason, also under CI=true: only a losetup that
/// works and then misbehaves fails a test.
/// </summary>
public sealed class LoopDevice : IDisposable
{
    public string Path { get; }
    public string BackingFile { get; }

    private LoopDevice(string path, string backingFile)
    {
        Path = path;
        BackingFile = backingFile;
    }

    public static LoopDevice Attach(string backingFile, long size)
    {
        using (var f = File.Create(backingFile)) f.SetLength(size);
        string losetup = new[] { "/usr/sbin/losetup", "/sbin/losetup" }.FirstOrDefault(File.Exists) ?? "";
        if (losetup.Length == 0) Assert.Ignore("losetup is not installed");
        var result = Tools.Run(losetup, "-f", "--show", backingFile);
        if (result.ExitCode != 0) Assert.Ignore($"losetup refused a loop device here: {result.Stderr.Trim()}");
        return new LoopDevice(result.Stdout.Trim(), backingFile);
    }

    public void Dispose() => Tools.Run(new[] { "/usr/sbin/losetup", "/sbin/losetup" }.First(File.Exists), "-d", Path);
}
