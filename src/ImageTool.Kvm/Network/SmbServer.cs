using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ImageTool.Kvm.Network;

/// <summary>
/// <c>smb=DIR</c>: Debian's smbd sharing DIR as <c>\\10.0.2.4\qemu</c>, with qemu's private configuration
/// (NETWORK.md §1.6: every state directory in a private temp dir, guest access mapped to the current user, no
/// printers) — one daemon listening on a loopback port the NAT sends 10.0.2.4:139/445 to, instead of qemu's
/// one smbd per connection. The temp dir goes with the network.
/// </summary>
internal sealed class SmbServer : IDisposable
{
    public const string Command = "/usr/sbin/smbd";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    private readonly Process _process;
    private readonly string _directory;

    private SmbServer(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    /// <summary>The loopback port smbd listens on.</summary>
    public int Port { get; }

    /// <exception cref="ArgumentException">qemu's checks, worded as qemu: no smbd, an unreadable DIR, or smbd not coming up.</exception>
    public static SmbServer Start(string share)
    {
        if (!File.Exists(Command)) throw new ArgumentException($"Could not find '{Command}', please install it");
        string full = Path.GetFullPath(share);
        if (!Directory.Exists(full))
            throw new ArgumentException($"Error accessing shared directory '{share}': {(File.Exists(full) ? "Not a directory" : "No such file or directory")}");
        try
        {
            Directory.EnumerateFileSystemEntries(full).FirstOrDefault();
        }
        catch (UnauthorizedAccessException)
        {
            throw new ArgumentException($"Error accessing shared directory '{share}': Permission denied");
        }
        string user = Environment.UserName;
        string directory = Directory.CreateTempSubdirectory("img-smb.").FullName;
        try
        {
            int port = FreePort();
            string config = Path.Combine(directory, "smb.conf");
            File.WriteAllText(config, Configuration(directory, full, user, port));
            var info = new ProcessStartInfo(Command)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (string arg in new[] { "--foreground", "--no-process-group", "-l", directory, "-s", config }) info.ArgumentList.Add(arg);
            var process = Process.Start(info) ?? throw new ArgumentException($"Could not start '{Command}'");
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var server = new SmbServer(process, directory, port);
            try
            {
                server.WaitListening();
            }
            catch
            {
                server.Dispose();
                throw;
            }
            return server;
        }
        catch (Exception e) when (e is not ArgumentException)
        {
            Directory.Delete(directory, recursive: true);
            throw new ArgumentException($"Could not start '{Command}': {e.Message}");
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    // qemu's [global] section (net/slirp.c) with smb ports/interfaces pinning the daemon to one loopback port.
    private static string Configuration(string directory, string share, string user, int port) => $"""
        [global]
        private dir={directory}
        pid directory={directory}
        lock directory={directory}
        state directory={directory}
        cache directory={directory}
        ncalrpc dir={directory}/ncalrpc
        log file={directory}/log.smbd
        smb passwd file={directory}/smbpasswd
        interfaces=127.0.0.1
        bind interfaces only=yes
        smb ports={port}
        security = user
        map to guest = Bad User
        load printers = no
        printing = bsd
        disable spoolss = yes
        usershare max shares = 0
        [qemu]
        path={share}
        read only=no
        guest ok=yes
        force user={user}

        """;

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private void WaitListening()
    {
        var deadline = DateTime.UtcNow + StartTimeout;
        while (true)
        {
            if (_process.HasExited) throw new ArgumentException($"'{Command}' exited at start-up (status {_process.ExitCode})");
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                probe.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
            }
            if (DateTime.UtcNow > deadline) throw new ArgumentException($"'{Command}' did not listen on 127.0.0.1:{Port} within {StartTimeout.TotalSeconds:F0} s");
            Thread.Sleep(50);
        }
    }
}
