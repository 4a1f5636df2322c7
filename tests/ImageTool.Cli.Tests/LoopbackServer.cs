using System.Net;
using System.Net.Sockets;

namespace ImageTool.Cli.Tests;

/// <summary>A TCP server on a free loopback port for the bad-server tests: one thread per connection until disposed.</summary>
public abstract class LoopbackServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();

    protected int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Starts accepting; derived constructors call it once their own fields are set.</summary>
    protected void Start()
    {
        _listener.Start();
        new Thread(AcceptLoop) { IsBackground = true }.Start();
    }

    /// <summary>Serves one connection on its own thread.</summary>
    protected abstract void Serve(TcpClient client);

    /// <summary>A stalling server: holds the connection until the test disposes the server (at most 5 minutes).</summary>
    protected void StallUntilDisposed() => _stop.Token.WaitHandle.WaitOne(TimeSpan.FromMinutes(5));

    private void AcceptLoop()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = _listener.AcceptTcpClient();
                new Thread(() => Serve(client)) { IsBackground = true }.Start();
            }
        }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        GC.SuppressFinalize(this);
    }
}
