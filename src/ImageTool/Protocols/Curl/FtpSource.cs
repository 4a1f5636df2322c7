using System.Diagnostics;
using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;

namespace ImageTool.Protocols.Curl;

/// <summary>
/// An image served over ftp or ftps (implicit TLS, as curl's ftps:// scheme), read as qemu's curl driver reads
/// it: the open logs in and asks SIZE; each read is a passive-mode REST + RETR of the request plus the
/// read-ahead on a connection of its own (reads from many threads run in parallel), cut short once the bytes
/// are in. Every connect, reply and transfer has the driver's timeout.
/// </summary>
internal sealed class FtpSource : IByteSource
{
    private readonly Uri _url;
    private readonly bool _tls;
    private readonly CurlOptions _options;
    private readonly ReadCache _cache = new();

    public long Length { get; }

    private FtpSource(Uri url, bool tls, CurlOptions options, long length)
    {
        _url = url;
        _tls = tls;
        _options = options;
        Length = length;
    }

    public static FtpSource Open(Uri url, bool tls, CurlOptions options)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            using var control = Control.Connect(url, tls, options);
            var (code, text) = control.Command($"SIZE {Path(url)}");
            if (code == 550) throw OpenError("The file does not exist");
            if (code != 213 || !long.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long size))
                throw OpenError("Server didn't report file size.");
            return new FtpSource(url, tls, options, size);
        }
        catch (FtpException e) { throw OpenError(e.Message); }
        catch (Exception e) when (e is IOException or SocketException or AggregateException or TimeoutException or AuthenticationException)
        {
            throw OpenError(Describe(e, url, clock));
        }
    }

    // curl's defaults: 21, and 990 for implicit TLS (System.Uri does not know ftps).
    private static int PortOf(Uri url, bool tls) => url.Port > 0 ? url.Port : tls ? 990 : 21;

    // As curl: the URL's path is relative to the login directory ("ftp://h//abs" for an absolute one).
    private static string Path(Uri url) => Uri.UnescapeDataString(url.AbsolutePath[1..]);

    private static ImageFormatException OpenError(string reason) => new($"CURL: Error opening file: {reason}");

    public int Read(long offset, Span<byte> buffer)
    {
        if (offset >= Length || buffer.Length == 0) return 0;
        int want = (int)Math.Min(buffer.Length, Length - offset);
        if (_cache.TryRead(offset, buffer[..want])) return want;
        long end = Math.Min(Length, offset + want + (long)_options.Readahead);
        byte[] fetched = Fetch(offset, (int)(end - offset));
        fetched.AsSpan(0, want).CopyTo(buffer);
        _cache.Add(offset, fetched);
        return want;
    }

    private byte[] Fetch(long offset, int length)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            using var control = Control.Connect(_url, _tls, _options);
            using var data = control.Passive();
            control.Expect($"REST {offset}", 350);
            var (code, text) = control.Command($"RETR {Path(_url)}");
            if (code is not (125 or 150)) throw new FtpException($"RETR response: {code} {text}");
            var bytes = new byte[length];
            int done = data.Open().ReadAtLeast(bytes, length, throwOnEndOfStream: false);
            if (done != length) throw new FtpException($"Transferred a partial file ({done} of {length} bytes)");
            return bytes;
        }
        catch (FtpException e) { throw new IOException($"Input/output error (CURL: {e.Message})", e); }
        catch (Exception e) when (e is IOException or SocketException or AggregateException or TimeoutException or AuthenticationException)
        {
            throw new IOException($"Input/output error (CURL: {Describe(e, _url, clock)})", e);
        }
    }

    private static string Describe(Exception e, Uri url, Stopwatch clock)
    {
        for (Exception? inner = e; inner != null; inner = inner.InnerException)
        {
            if (inner is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
                return $"Failed to connect to {url.Host} port {PortOf(url, url.Scheme == "ftps")} after {clock.ElapsedMilliseconds} ms: Couldn't connect to server";
            if (inner is SocketException { SocketErrorCode: SocketError.TimedOut } or TimeoutException)
                return $"Operation timed out after {clock.ElapsedMilliseconds} milliseconds";
            if (inner is AuthenticationException)
                return "server certificate verification failed. CAfile: none CRLfile: none";
        }
        return e.Message;
    }

    public void Dispose() { }

    private sealed class FtpException(string message) : Exception(message);

    /// <summary>One logged-in control connection.</summary>
    private sealed class Control : IDisposable
    {
        private readonly TcpClient _client;
        private readonly Stream _stream;
        private readonly CurlOptions _options;
        private readonly Uri _url;
        private readonly bool _tls;

        private Control(TcpClient client, Stream stream, Uri url, bool tls, CurlOptions options)
        {
            _client = client;
            _stream = stream;
            _url = url;
            _tls = tls;
            _options = options;
        }

        public static Control Connect(Uri url, bool tls, CurlOptions options)
        {
            var client = Dial(url.Host, PortOf(url, tls), options);
            try
            {
                Stream stream = client.GetStream();
                if (tls) stream = Secure(stream, url.Host, options);
                var control = new Control(client, stream, url, tls, options);
                control.Expect(null, 220);
                string user = options.Username ?? (url.UserInfo.Length > 0 ? Uri.UnescapeDataString(url.UserInfo.Split(':')[0]) : "anonymous");
                string password = options.Password ?? (url.UserInfo.Contains(':') ? Uri.UnescapeDataString(url.UserInfo.Split(':', 2)[1]) : "ftp@example.com");
                var (code, text) = control.Command($"USER {user}");
                if (code == 331) (code, text) = control.Command($"PASS {password}");
                if (code != 230) throw new FtpException($"Access denied: {code}");
                if (tls)
                {
                    control.Expect("PBSZ 0", 200);
                    control.Expect("PROT P", 200);
                }
                control.Expect("TYPE I", 200);
                return control;
            }
            catch
            {
                client.Dispose();
                throw;
            }
        }

        private static TcpClient Dial(string host, int port, CurlOptions options)
        {
            var client = new TcpClient();
            try
            {
                if (!client.ConnectAsync(host, port).Wait(options.Timeout)) throw new TimeoutException();
                int ms = (int)options.Timeout.TotalMilliseconds;
                client.ReceiveTimeout = ms;
                client.SendTimeout = ms;
                return client;
            }
            catch
            {
                client.Dispose();
                throw;
            }
        }

        public (int Code, string Text) Command(string? line)
        {
            if (line != null) _stream.Write(Encoding.ASCII.GetBytes(line + "\r\n"));
            return Reply();
        }

        public void Expect(string? line, int code)
        {
            var reply = Command(line);
            if (reply.Code != code) throw new FtpException($"{line ?? "greeting"}: unexpected reply {reply.Code} {reply.Text}");
        }

        // A reply is "ddd text" or a multi-line "ddd-..." block closed by "ddd text".
        private (int Code, string Text) Reply()
        {
            string first = ReadLine();
            if (first.Length < 3 || !int.TryParse(first.AsSpan(0, 3), NumberStyles.None, CultureInfo.InvariantCulture, out int code))
                throw new FtpException($"Weird server reply: {first}");
            if (first.Length > 3 && first[3] == '-')
            {
                string end = first[..3] + " ";
                while (!ReadLine().StartsWith(end, StringComparison.Ordinal)) { }
            }
            return (code, first.Length > 4 ? first[4..] : "");
        }

        private string ReadLine()
        {
            var line = new StringBuilder();
            for (int b; (b = _stream.ReadByte()) != '\n';)
            {
                if (b < 0) throw new FtpException("Server closed the control connection");
                if (line.Length > 8192) throw new FtpException("Weird server reply");
                if (b != '\r') line.Append((char)b);
            }
            return line.ToString();
        }

        /// <summary>PASV: the data connection is dialled now; its TLS starts once RETR was accepted.</summary>
        public DataConnection Passive()
        {
            var (code, text) = Command("PASV");
            int open = text.IndexOf('('), close = text.IndexOf(')');
            if (code != 227 || open < 0 || close < open) throw new FtpException($"Bad PASV response: {code} {text}");
            var parts = text[(open + 1)..close].Split(',');
            if (parts.Length != 6) throw new FtpException($"Bad PASV response: {text}");
            int port = int.Parse(parts[4], CultureInfo.InvariantCulture) * 256 + int.Parse(parts[5], CultureInfo.InvariantCulture);
            // Like curl, the control connection's host is used, not the address the server reports.
            return new DataConnection(Dial(_url.Host, port, _options), _tls ? _url.Host : null, _options);
        }

        public void Dispose()
        {
            _stream.Dispose();
            _client.Dispose();
        }
    }

    private static SslStream Secure(Stream stream, string host, CurlOptions options)
    {
        var ssl = new SslStream(stream, leaveInnerStreamOpen: false, options.SslVerify ? null : (_, _, _, _) => true);
        ssl.AuthenticateAsClient(host);
        return ssl;
    }

    private sealed class DataConnection(TcpClient client, string? tlsHost, CurlOptions options) : IDisposable
    {
        private Stream? _stream;

        public Stream Open()
        {
            _stream = client.GetStream();
            if (tlsHost != null) _stream = Secure(_stream, tlsHost, options);
            return _stream;
        }

        public void Dispose()
        {
            _stream?.Dispose();
            client.Dispose();
        }
    }
}
