using System.Globalization;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests.Nbd;

/// <summary>
/// An NBD server process started for one test (qemu-nbd, nbdkit or img nbd), listening on a Unix socket in the
/// test's folder. Each of them daemonizes once listening and writes a pid file; Dispose sends SIGTERM and waits.
/// </summary>
public sealed class NbdPeer : IDisposable
{
    private readonly int _pid;

    public string Socket { get; }
    public string Url { get; }

    private NbdPeer(int pid, string socket, string url)
    {
        _pid = pid;
        Socket = socket;
        Url = url;
    }

    /// <summary>qemu-nbd serving <paramref name="file"/> (extra options such as -f raw, -r, -A).</summary>
    public static NbdPeer QemuNbd(TempDir dir, string name, string file, params string[] options) =>
        Start(dir, name, "", pidFile => Tools.RunIn(dir.Path, "qemu-nbd",
            [.. options, "--fork", "--pid-file", pidFile, "-k", dir[name + ".sock"], file]));

    /// <summary>img nbd serving <paramref name="file"/>.</summary>
    public static NbdPeer Img(TempDir dir, string name, string file, params string[] options) =>
        Start(dir, name, "", pidFile => Tests.Img.Run(dir.Path,
            ["nbd", .. options, "--fork", "--pid-file", pidFile, "-k", dir[name + ".sock"], file]));

    /// <summary>img nbd serving <paramref name="file"/> on TCP (127.0.0.1:<paramref name="port"/>).</summary>
    public static NbdPeer ImgOnTcp(TempDir dir, string name, string file, int port, params string[] options)
    {
        string portText = port.ToString(CultureInfo.InvariantCulture);
        var peer = Start(dir, name, "", pidFile => Tests.Img.Run(dir.Path,
            ["nbd", .. options, "--fork", "--pid-file", pidFile, "-b", "127.0.0.1", "-p", portText, file]));
        return new NbdPeer(peer._pid, "", $"nbd://127.0.0.1:{portText}");
    }

    /// <summary>nbdkit with a plugin and its arguments, filters before them (--filter=error ...).</summary>
    public static NbdPeer Nbdkit(TempDir dir, string name, params string[] pluginAndArgs) =>
        Start(dir, name, "", pidFile => Tools.RunIn(dir.Path, "nbdkit", ["-U", dir[name + ".sock"], "-P", pidFile, .. pluginAndArgs]));

    private static NbdPeer Start(TempDir dir, string name, string export, Func<string, Tools.Result> launch)
    {
        string pidFile = dir[name + ".pid"];
        launch(pidFile).Ok();
        // nbdkit writes its pid file just after forking, so it may be missing or still empty for a moment.
        int pid = 0;
        for (int i = 0; i < 250 && !TryReadPid(pidFile, out pid); i++) Thread.Sleep(20);
        if (pid == 0) throw new InvalidOperationException($"{name}: no pid in {pidFile} after 5 s");
        return new NbdPeer(pid, dir[name + ".sock"], $"nbd+unix:///{export}?socket={dir[name + ".sock"]}");
    }

    private static bool TryReadPid(string pidFile, out int pid)
    {
        pid = 0;
        try
        {
            return File.Exists(pidFile)
                && int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out pid)
                && pid > 0;
        }
        catch (IOException)
        {
            return false;
        }
    }

    public bool HasExited
    {
        get
        {
            string stat = $"/proc/{_pid}/stat";
            if (!File.Exists(stat)) return true;
            try
            {
                string text = File.ReadAllText(stat);
                return text[(text.LastIndexOf(')') + 2)..].StartsWith('Z');
            }
            catch (IOException)
            {
                return true;
            }
        }
    }

    /// <summary>Waits up to <paramref name="timeout"/> for the server to exit by itself.</summary>
    public bool WaitForExit(TimeSpan timeout)
    {
        var end = DateTime.UtcNow + timeout;
        while (!HasExited)
        {
            if (DateTime.UtcNow > end) return false;
            Thread.Sleep(20);
        }
        return true;
    }

    public void Terminate()
    {
        if (HasExited) return;
        Tools.Run("kill", "-TERM", _pid.ToString(CultureInfo.InvariantCulture));
        if (!WaitForExit(TimeSpan.FromSeconds(20)))
        {
            Tools.Run("kill", "-KILL", _pid.ToString(CultureInfo.InvariantCulture));
            Assert.Fail("NBD server did not exit on SIGTERM");
        }
    }

    public void Dispose() => Terminate();
}
