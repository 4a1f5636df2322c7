using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using ImageTool.Operations;

namespace ImageTool.Cli.Commands;

/// <summary><c>img nbd</c>: qemu-nbd's server, with its options.</summary>
internal static class NbdCommand
{
    public const string Synopsis = "[-p port] [-b addr] [-k socket] [-e shared] [-t] [-x name] [-D text] [-f fmt] [-r] [-s] [-A] [-o offset] [-B bitmap]... [--discard=mode] [--object objectdef] [--tls-creds=id] [--tls-authz=id] [--image-opts] [--fork] [--pid-file=path] filename | -L [-p port] [-b addr] [-k socket] [--object objectdef] [--tls-creds=id] [--tls-hostname=name]";

    // Set in the child of --fork: it says "ready" on stdout once listening, which lets the parent exit.
    private const string ForkedVariable = "IMG_NBD_FORKED";

    public static Command Build(CliContext context)
    {
        var port = new Option<string?>("--port", "-p") { HelpName = "port" };
        var bind = new Option<string?>("--bind", "-b") { HelpName = "iface" };
        var socket = new Option<string?>("--socket", "-k") { HelpName = "path" };
        var shared = new Option<string?>("--shared", "-e") { HelpName = "num" };
        var persistent = new Option<bool>("--persistent", "-t");
        var exportName = new Option<string?>("--export-name", "-x") { HelpName = "name" };
        var description = new Option<string?>("--description", "-D") { HelpName = "text" };
        var format = new Option<string?>("--format", "-f") { HelpName = "fmt" };
        var readOnly = new Option<bool>("--read-only", "-r");
        var snapshot = new Option<bool>("--snapshot", "-s");
        var allocationDepth = new Option<bool>("--allocation-depth", "-A");
        var verbose = new Option<bool>("--verbose", "-v");
        var discard = new Option<string?>("--discard") { HelpName = "mode" };
        var cache = new Option<string?>("--cache") { HelpName = "mode" };
        var nocache = new Option<bool>("--nocache", "-n");
        var aio = new Option<string?>("--aio") { HelpName = "mode" };
        var detectZeroes = new Option<string?>("--detect-zeroes") { HelpName = "mode" };
        var objects = CommonOptions.Objects();
        var imageOpts = CommonOptions.ImageOpts();
        var fork = new Option<bool>("--fork");
        var pidFile = new Option<string?>("--pid-file") { HelpName = "path" };
        var connect = new Option<string?>("--connect", "-c") { HelpName = "dev" };
        var tlsCreds = new Option<string?>("--tls-creds") { HelpName = "id" };
        var tlsAuthz = new Option<string?>("--tls-authz") { HelpName = "id" };
        var offset = new Option<string?>("--offset", "-o") { HelpName = "offset" };
        var bitmaps = new Option<string[]>("--bitmap", "-B") { HelpName = "name" };
        var list = new Option<bool>("--list", "-L");
        var tlsHostname = new Option<string?>("--tls-hostname") { HelpName = "hostname" };
        var files = CommonOptions.Files();
        var command = new Command("nbd", "serve an image over NBD, as qemu-nbd")
        {
            port, bind, socket, shared, persistent, exportName, description, format, readOnly, snapshot, allocationDepth, verbose,
            discard, cache, nocache, aio, detectZeroes, objects, imageOpts, fork, pidFile, connect, tlsCreds, tlsAuthz, offset, bitmaps, list, tlsHostname, files,
        };
        command.SetAction(result =>
        {
            var names = result.GetValue(files) ?? [];
            if (result.GetValue(socket) is { } socketPath && !socketPath.StartsWith('/'))
                throw new UsageException("socket path must be absolute", showTryHint: false);
            if (result.GetValue(connect) is { } device)
                throw new UsageException(File.Exists(device)
                    ? $"Failed to connect to {device}: the kernel NBD client (-c) is not supported"
                    : $"Failed to open {device}: No such file or directory", showTryHint: false);
            long exportOffset = result.GetValue(offset) is { } offsetText ? ParseOffset(offsetText) : 0;
            if (result.GetValue(list))
            {
                if (names.Length != 0) throw new UsageException("List mode is incompatible with a file name", showTryHint: false);
                if (exportOffset != 0 || (result.GetValue(bitmaps) ?? []).Length > 0 || result.GetValue(allocationDepth)
                    || new Option[] { exportName, description, format, aio, discard, cache, nocache }.Any(o => result.GetResult(o) is { Implicit: false }))
                    throw new UsageException("List mode is incompatible with per-device settings", showTryHint: false);
                if (result.GetValue(fork)) throw new UsageException("List mode is incompatible with forking", showTryHint: false);
                CommonOptions.Secrets(result, objects);
                int listPort = 10809;
                if (result.GetValue(port) is { } listPortText
                    && (!int.TryParse(listPortText, NumberStyles.None, CultureInfo.InvariantCulture, out listPort) || listPort is < 1 or > 65535))
                    throw new UsageException($"Invalid port '{listPortText}'", showTryHint: false);
                NbdListOperation.Run(result.GetValue(socket), result.GetValue(bind) ?? "0.0.0.0", listPort,
                    result.GetValue(tlsCreds), result.GetValue(tlsHostname), context.Out);
                return 0;
            }
            if (exportOffset < 0)
                throw new UsageException("Parameter 'offset' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.", showTryHint: false);
            if (names.Length != 1) throw new UsageException("Expected exactly one image file name");
            int portNumber = 10809;
            if (result.GetValue(port) is { } portText
                && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out portNumber) || portNumber is < 0 or > 65535))
                throw new UsageException($"Invalid port '{portText}'", showTryHint: false);
            int sharedCount = 1;
            if (result.GetValue(shared) is { } sharedText
                && (!int.TryParse(sharedText, NumberStyles.None, CultureInfo.InvariantCulture, out sharedCount) || sharedCount < 0))
                throw new UsageException($"Invalid shared device number '{sharedText}'", showTryHint: false);
            bool unmap = result.GetValue(discard) switch
            {
                null or "ignore" or "off" => false,
                "unmap" or "on" => true,
                var mode => throw new UsageException($"Invalid discard mode `{mode}'", showTryHint: false),
            };
            if (result.GetValue(detectZeroes) is { } dz && dz is not ("off" or "on" or "unmap"))
                throw new UsageException($"Invalid detect-zeroes mode '{dz}'", showTryHint: false);
            if (result.GetValue(aio) is { } aioMode && aioMode is not ("threads" or "native" or "io_uring"))
                throw new UsageException($"invalid aio mode '{aioMode}'", showTryHint: false);
            var cacheMode = CommonOptions.CheckCache(result.GetValue(cache) ?? (result.GetValue(nocache) ? "none" : null), "cache ");
            if (result.GetValue(socket) != null && result.GetValue(port) != null)
                throw new UsageException("--socket and --port are mutually exclusive", showTryHint: false);

            var (path, openOptions) = CommonOptions.Source(names[0], result.GetValue(format), result.GetValue(imageOpts),
                forceShare: false, CommonOptions.Secrets(result, objects), context);
            if (cacheMode != null) openOptions = openOptions with { Cache = cacheMode.Value };
            var options = new NbdServeOptions
            {
                Path = path,
                Open = openOptions,
                ExportName = result.GetValue(exportName) ?? "",
                Description = result.GetValue(description),
                ReadOnly = result.GetValue(readOnly),
                Snapshot = result.GetValue(snapshot),
                Persistent = result.GetValue(persistent),
                Shared = sharedCount == 0 ? int.MaxValue : sharedCount,
                Bind = result.GetValue(bind) ?? "0.0.0.0",
                Port = portNumber,
                SocketPath = result.GetValue(socket),
                Discard = unmap,
                AllocationDepth = result.GetValue(allocationDepth),
                TlsCreds = result.GetValue(tlsCreds),
                TlsAuthz = result.GetValue(tlsAuthz),
                Bitmaps = result.GetValue(bitmaps) ?? [],
                Offset = exportOffset,
            };
            if (result.GetValue(fork) && Environment.GetEnvironmentVariable(ForkedVariable) != "1")
                return Fork(context);
            return Serve(options, result.GetValue(pidFile), context);
        });
        return command;
    }

    /// <summary>-o as qemu-nbd reads it (qemu_strtoi64, base 0): decimal, 0x hex or 0-led octal, signed; no size suffixes.</summary>
    private static long ParseOffset(string text)
    {
        bool negative = text.StartsWith('-');
        string digits = text.TrimStart('-', '+');
        (int radix, string body) = digits.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? (16, digits[2..])
            : digits.Length > 1 && digits[0] == '0' ? (8, digits[1..]) : (10, digits);
        long value = 0;
        foreach (char c in body)
        {
            int digit = char.IsAsciiDigit(c) ? c - '0' : char.IsAsciiHexDigit(c) ? char.ToLowerInvariant(c) - 'a' + 10 : radix;
            if (digit >= radix || value > (long.MaxValue - digit) / radix) throw new UsageException($"Invalid offset '{text}'", showTryHint: false);
            value = value * radix + digit;
        }
        if (body.Length == 0 || digits.Length < text.Length - 1) throw new UsageException($"Invalid offset '{text}'", showTryHint: false);
        return negative ? -value : value;
    }

    private static int Serve(NbdServeOptions options, string? pidFile, CliContext context)
    {
        using var stop = new CancellationTokenSource();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        bool forked = Environment.GetEnvironmentVariable(ForkedVariable) == "1";
        NbdServeOperation.Run(options, message => Log(context, message), () =>
        {
            if (pidFile != null) File.WriteAllText(pidFile, $"{Environment.ProcessId}\n");
            if (forked)
            {
                context.Out.WriteLine("ready");
                context.Out.Flush();
            }
        }, stop.Token);
        return 0;
    }

    private static void Log(CliContext context, string message)
    {
        try
        {
            context.Err.WriteLine($"{Cli.Program}: {message}");
            context.Err.Flush();
        }
        catch (IOException)
        {
        }
    }

    /// <summary>
    /// --fork: .NET cannot fork, so the same command runs again as a child; this process waits until the child
    /// listens (it prints "ready") and exits 0, or exits 1 when the child fails first (its errors are passed on).
    /// </summary>
    private static int Fork(CliContext context)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot find the img executable");
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "img.dll"));
        foreach (string arg in Environment.GetCommandLineArgs().Skip(1)) psi.ArgumentList.Add(arg);
        psi.Environment[ForkedVariable] = "1";
        using var child = Process.Start(psi) ?? throw new InvalidOperationException("Cannot start the server process");
        // The child's stderr comes through us until it is ready; after that nobody holds our stderr open.
        var pump = Task.Run(() =>
        {
            while (child.StandardError.ReadLine() is { } errorLine)
            {
                context.Err.WriteLine(errorLine);
                context.Err.Flush();
            }
        });
        string? line = child.StandardOutput.ReadLine();
        if (line == "ready") return 0;
        child.WaitForExit();
        pump.Wait();
        context.Err.Flush();
        return child.ExitCode == 0 ? 1 : child.ExitCode;
    }
}
