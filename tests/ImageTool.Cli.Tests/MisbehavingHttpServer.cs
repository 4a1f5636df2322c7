using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ImageTool.Cli.Tests;

/// <summary>
/// An HTTP server on loopback that answers HEAD correctly for a file of <see cref="Size"/> bytes and then
/// misbehaves the way <see cref="Mode"/> says, for the bad-server tests of the curl protocols.
/// </summary>
public sealed class MisbehavingHttpServer : LoopbackServer
{
    public enum Mode { NoRanges, Stall, Garbage, IgnoreRange, DropMidBody, RedirectLoop, ShortBody }

    public const int Size = 1 << 20;

    private readonly Mode _mode;

    public MisbehavingHttpServer(Mode mode)
    {
        _mode = mode;
        Start();
    }

    public string Url => $"http://127.0.0.1:{Port}/disk.raw";

    protected override void Serve(TcpClient client)
    {
        using var _ = client;
        try
        {
            var stream = client.GetStream();
            var reader = new StreamReader(stream, Encoding.ASCII);
            while (reader.ReadLine() is { Length: > 0 } requestLine)
            {
                while (reader.ReadLine() is { Length: > 0 }) { }
                bool head = requestLine.StartsWith("HEAD", StringComparison.Ordinal);
                string ranges = _mode == Mode.NoRanges ? "" : "Accept-Ranges: bytes\r\n";
                if (_mode == Mode.RedirectLoop)
                {
                    Send(stream, $"HTTP/1.1 302 Found\r\nLocation: {Url}\r\nContent-Length: 0\r\n\r\n");
                    continue;
                }
                if (head || _mode == Mode.NoRanges)
                {
                    Send(stream, $"HTTP/1.1 200 OK\r\nContent-Length: {Size}\r\n{ranges}\r\n");
                    continue;
                }
                switch (_mode)
                {
                    case Mode.Stall:
                        StallUntilDisposed();
                        return;
                    case Mode.Garbage:
                        Send(stream, "\u0001\u0002 garbage that is not HTTP\r\n\r\n");
                        return;
                    case Mode.IgnoreRange:
                        Send(stream, $"HTTP/1.1 200 OK\r\nContent-Length: {Size}\r\n\r\n");
                        stream.Write(new byte[Size]);
                        continue;
                    case Mode.DropMidBody:
                    case Mode.ShortBody:
                        Send(stream, $"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-{Size - 1}/{Size}\r\nContent-Length: {Size}\r\n\r\n");
                        stream.Write(new byte[Size / 4]);
                        if (_mode == Mode.DropMidBody) return;
                        StallUntilDisposed();
                        return;
                }
            }
        }
        catch (IOException) { }
    }

    private static void Send(NetworkStream stream, string text) => stream.Write(Encoding.ASCII.GetBytes(text));
}
