using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;

namespace ImageTool.Protocols.Curl;

/// <summary>
/// An image served over http/https, read with Range requests as qemu's curl driver reads it: the open
/// sends HEAD (size from Content-Length, "Accept-Ranges: bytes" required), each read asks for the request
/// plus the read-ahead and keeps the answer for the reads that follow. Every request has the driver's timeout,
/// so a server that stalls ends in one error, never a hang. Reads from many threads run as parallel requests.
/// </summary>
internal sealed class HttpSource : IByteSource
{
    private const int MaxRedirects = 10;

    private readonly HttpClient _client;
    private readonly Uri _url;
    private readonly CurlOptions _options;
    private readonly AuthenticationHeaderValue? _authorization;
    private readonly ReadCache _cache = new();

    public long Length { get; private set; }

    private HttpSource(HttpClient client, Uri url, CurlOptions options)
    {
        _client = client;
        _url = url;
        _options = options;
        if (options.Username != null || options.Password != null)
            _authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{options.Username}:{options.Password}")));
    }

    public static HttpSource Open(Uri url, CurlOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = true,
            MaxAutomaticRedirections = MaxRedirects,
            ConnectTimeout = options.Timeout,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = 16,
        };
        if (!options.SslVerify) handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        if (options.ProxyUsername != null)
            handler.DefaultProxyCredentials = new NetworkCredential(options.ProxyUsername, options.ProxyPassword);
        var client = new HttpClient(handler)
        {
            Timeout = options.Timeout,
            DefaultRequestVersion = HttpVersion.Version11,
        };
        try
        {
            var source = new HttpSource(client, url, options);
            source.Length = source.Head();
            return source;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private HttpRequestMessage Request(HttpMethod method)
    {
        var request = new HttpRequestMessage(method, _url);
        if (_options.Cookie != null) request.Headers.TryAddWithoutValidation("Cookie", _options.Cookie);
        if (_authorization != null) request.Headers.Authorization = _authorization;
        return request;
    }

    // curl_open's HEAD request; errors read as qemu's "CURL: Error opening file: ...".
    private long Head()
    {
        var clock = Stopwatch.StartNew();
        try
        {
            using var request = Request(HttpMethod.Head);
            using var response = _client.Send(request);
            CheckStatus(response);
            if (response.Content.Headers.ContentLength is not { } length)
                throw OpenError("Server didn't report file size.");
            if (!response.Headers.AcceptRanges.Contains("bytes"))
                throw OpenError("Server does not support 'range' (byte ranges).");
            return length;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            throw OpenError(Describe(e, clock));
        }
    }

    private static ImageFormatException OpenError(string reason) => new($"CURL: Error opening file: {reason}");

    private static void CheckStatus(HttpResponseMessage response)
    {
        int code = (int)response.StatusCode;
        if (code is >= 300 and < 400) throw OpenError($"Maximum ({MaxRedirects}) redirects followed");
        if (code >= 400) throw OpenError($"The requested URL returned error: {code}");
    }

    public int Read(long offset, Span<byte> buffer)
    {
        if (offset >= Length || buffer.Length == 0) return 0;
        int want = (int)Math.Min(buffer.Length, Length - offset);
        if (_cache.TryRead(offset, buffer[..want])) return want;
        // Small reads (format metadata, probing) fetch the read-ahead too and keep it, as qemu does; the large
        // reads of convert's workers are fetched as they are, straight into their buffers, in parallel.
        if (want >= _options.Readahead)
        {
            Fetch(offset, buffer[..want]);
            return want;
        }
        var fetched = new byte[Math.Min(Length, offset + want + (long)_options.Readahead) - offset];
        Fetch(offset, fetched);
        fetched.AsSpan(0, want).CopyTo(buffer);
        _cache.Add(offset, fetched);
        return want;
    }

    private void Fetch(long offset, Span<byte> into)
    {
        var clock = Stopwatch.StartNew();
        // One deadline for the whole request, body included: a server that stalls mid-transfer is cut off.
        using var deadline = new CancellationTokenSource(_options.Timeout);
        try
        {
            using var request = Request(HttpMethod.Get);
            request.Headers.Range = new RangeHeaderValue(offset, offset + into.Length - 1);
            using var response = _client.Send(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            int code = (int)response.StatusCode;
            if (code >= 400) throw ReadError($"The requested URL returned error: {code}");
            // Checked before any of the body is read: a server that ignores the range would send the whole file.
            if (response.StatusCode != HttpStatusCode.PartialContent || response.Content.Headers.ContentRange?.From != offset)
                throw ReadError("Server ignored the byte range");
            using var body = response.Content.ReadAsStream(deadline.Token);
            using var abort = deadline.Token.Register(response.Dispose);
            int done = body.ReadAtLeast(into, into.Length, throwOnEndOfStream: false);
            if (done != into.Length) throw ReadError($"Transferred a partial file ({done} of {into.Length} bytes)");
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or ObjectDisposedException
            or IOException and not CurlReadException)
        {
            throw ReadError(deadline.IsCancellationRequested
                ? $"Operation timed out after {clock.ElapsedMilliseconds} milliseconds"
                : Describe(e, clock));
        }
    }

    private static CurlReadException ReadError(string reason) => new($"Input/output error (CURL: {reason})");

    // curl's wording for the usual failures, so messages read like qemu-img's.
    private string Describe(Exception e, Stopwatch clock)
    {
        long ms = clock.ElapsedMilliseconds;
        if (e is TaskCanceledException)
            return $"Operation timed out after {ms} milliseconds";
        for (var inner = e.InnerException; inner != null; inner = inner.InnerException)
        {
            if (inner is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable })
                return $"Failed to connect to {_url.Host} port {_url.Port} after {ms} ms: Couldn't connect to server";
            if (inner is SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.TryAgain })
                return $"Could not resolve host: {_url.Host}";
            if (inner is AuthenticationException)
                return "server certificate verification failed. CAfile: none CRLfile: none";
        }
        return e.InnerException?.Message ?? e.Message;
    }

    public void Dispose() => _client.Dispose();

    /// <summary>A read that failed: the block layer's EIO, with curl's reason.</summary>
    private sealed class CurlReadException(string message) : IOException(message);
}
