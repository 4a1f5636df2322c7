using System.Net.Sockets;
using ImageTool.Nbd;
using ImageTool.Options;
using ImageTool.Tls;

namespace ImageTool.Operations;

/// <summary><c>img nbd</c>: serves one image over NBD as qemu-nbd does, through the block layer.</summary>
internal static class NbdServeOperation
{
    /// <summary>
    /// Opens the image (holding qemu's image locks), listens, calls <paramref name="ready"/> once clients can
    /// connect, and serves until <paramref name="stop"/> fires or, unless persistent, the last client has left.
    /// What clients wrote is flushed before the image is closed.
    /// </summary>
    /// <param name="options">What to serve.</param>
    /// <param name="log">Receives qemu-nbd's messages about clients that were disconnected.</param>
    /// <param name="ready">Called when the socket is listening.</param>
    /// <param name="stop">Ends the server (SIGTERM).</param>
    public static void Run(NbdServeOptions options, Action<string> log, Action ready, CancellationToken stop)
    {
        var tls = ServerTls(options);
        bool readOnly = options.ReadOnly || options.Snapshot;
        IImage image = DiskImage.Open(options.Path, options.Open with { ReadOnly = readOnly });
        try
        {
            if (options.Snapshot && !options.ReadOnly) image = CreateOverlay(image);
            if (options.Offset > image.Length)
                throw new ArgumentException($"Offset ({options.Offset}) cannot be greater than size of the containing file ({image.Length})");
            // qemu-nbd lists the bitmaps the other way round from its command line. With -o it looks for them on
            // the raw node that applies the offset, which has none: -o and -B do not go together.
            var bitmaps = options.Bitmaps.Reverse()
                .Select(name => (name, options.Offset == 0 ? FindBitmap(image, name) : throw new ArgumentException($"Bitmap '{name}' is not found")))
                .ToList();
            Socket listener = options.SocketPath != null
                ? NbdServer.ListenUnix(options.SocketPath)
                : NbdServer.ListenTcp(options.Bind, options.Port);
            try
            {
                var export = new NbdExport(options.ExportName, options.Description, image, options.ReadOnly, options.Discard, options.AllocationDepth,
                    MultiConn: options.Shared > 1)
                {
                    DirtyBitmaps = bitmaps,
                    Offset = options.Offset,
                };
                var server = new NbdServer(export, listener, Math.Max(1, options.Shared), options.Persistent, log) { Tls = tls };
                using var registration = stop.Register(server.Stop);
                ready();
                server.Run();
            }
            finally
            {
                listener.Dispose();
                if (options.SocketPath != null) File.Delete(options.SocketPath);
            }
        }
        finally
        {
            image.Dispose();
        }
    }

    /// <summary>-B as qemu-nbd finds it: the first image down the backing chain that has a bitmap of that name.</summary>
    private static BitmapContents FindBitmap(IImage image, string name)
    {
        for (IImage? layer = image; layer != null; layer = layer.Backing)
        {
            if (layer is IPersistentBitmaps bitmaps && bitmaps.StoredBitmaps.Any(b => b.Name == name))
                return bitmaps.ReadBitmap(name);
        }
        throw new ArgumentException($"Bitmap '{name}' is not found");
    }

    /// <summary>The TLS --tls-creds and --tls-authz ask for, with qemu-nbd's errors; null without --tls-creds.</summary>
    private static NbdServerTls? ServerTls(NbdServeOptions options)
    {
        if (options.TlsCreds == null)
        {
            if (options.TlsAuthz != null) throw new ArgumentException("--tls-authz is not permitted without --tls-creds");
            return null;
        }
        X509Credentials credentials;
        try
        {
            credentials = TlsObjects.Credentials(options.TlsCreds, server: true);
        }
        catch (ImageFormatException e)
        {
            throw new ArgumentException($"Failed to get TLS creds: {e.Message}", e);
        }
        var authorization = options.TlsAuthz != null ? TlsObjects.Authorization(options.TlsAuthz) : null;
        return new NbdServerTls(credentials, authorization);
    }

    /// <summary>
    /// -s as qemu-nbd does it: a temporary qcow2 above the image takes the writes; it is unlinked once open,
    /// so it goes away with the process (the same scheme as img run -snapshot).
    /// </summary>
    private static IImage CreateOverlay(IImage image)
    {
        string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"img-nbd-snapshot-{Guid.NewGuid():N}.qcow2");
        var backing = new ImageOptions()
            .Set("backing_file", image.FileName.Contains("://", StringComparison.Ordinal) ? image.FileName : System.IO.Path.GetFullPath(image.FileName))
            .Set("backing_fmt", image.Format.Name);
        try
        {
            DiskImage.Create(new CreateRequest(path, "qcow2") { Size = image.Length, Options = backing, UnsafeBacking = true });
            var overlay = DiskImage.Open(path, new OpenOptions { ReadOnly = false, Format = "qcow2", OpenBacking = false, Cache = CacheMode.Unsafe });
            overlay.AttachBacking(image);
            return overlay;
        }
        catch
        {
            image.Dispose();
            throw;
        }
        finally
        {
            File.Delete(path);
        }
    }
}
