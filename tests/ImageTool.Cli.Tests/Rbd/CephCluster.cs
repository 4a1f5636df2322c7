using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests.Rbd;

/// <summary>
/// A throw-away one-node Ceph cluster for the rbd tests, started by <c>tools/ceph-cluster</c> on free loopback
/// ports with this process as its owner (its watchdog stops the daemons should the tests die), stopped at the end.
/// <c>CEPH_CONF</c> is set for this process, so qemu-img and img started by the tests find the cluster.
/// </summary>
public sealed class CephCluster : IDisposable
{
    private readonly string _script;

    public string Directory { get; }

    public string Conf => Path.Combine(Directory, "ceph.conf");

    private CephCluster(string script, string directory)
    {
        _script = script;
        Directory = directory;
    }

    public static CephCluster Start()
    {
        Tools.Require("ceph-mon");
        Tools.Require("ceph-osd");
        Tools.Require("rbd");
        string script = Path.Combine(RepositoryRoot(), "tools", "ceph-cluster");
        string directory = Path.Combine(Path.GetTempPath(), $"img-ceph-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        var psi = new ProcessStartInfo(script)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in (string[])["start", directory, "--owner", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            psi.ArgumentList.Add(a);
        psi.Environment["CEPH_V2PORT"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["CEPH_V1PORT"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var cluster = new CephCluster(script, directory);
        if (!p.WaitForExit(180_000))
        {
            p.Kill(true);
            cluster.Dispose();
            Assert.Fail("tools/ceph-cluster start timed out");
        }
        if (p.ExitCode != 0)
        {
            cluster.Dispose();
            Assert.Fail($"tools/ceph-cluster start failed:\n{stdout.Result}\n{stderr.Result}");
        }
        Environment.SetEnvironmentVariable("CEPH_CONF", cluster.Conf);
        return cluster;
    }

    /// <summary>Runs the <c>rbd</c> command line tool against the cluster.</summary>
    public static Tools.Result Rbd(params string[] args) => Tools.Run("rbd", args);

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("CEPH_CONF", null);
        var psi = new ProcessStartInfo(_script) { UseShellExecute = false };
        psi.ArgumentList.Add("stop");
        psi.ArgumentList.Add(Directory);
        using var p = Process.Start(psi)!;
        p.WaitForExit(60_000);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "tools", "ceph-cluster"))) return dir.FullName;
        throw new InvalidOperationException("tools/ceph-cluster not found above " + AppContext.BaseDirectory);
    }
}
