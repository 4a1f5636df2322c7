using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ImageTool.Cli.Tests;

/// <summary>
/// An FTP server on loopback (passive mode only) for a file of <see cref="Size"/> bytes that misbehaves the way
/// <see cref="Mode"/> says, for the bad-server tests of the ftp protocol.
/// </summary>
public sealed class MisbehavingFtpServer : LoopbackServer
{
    public enum Mode
    {
        /// <summary>A greeting that is no FTP reply.</summary>
        Garbage,
        /// <summary>SIZE is not implemented.</summary>
        NoSize,
        /// <summary>REST (the byte offset of a read) is not implemented.</summary>
        NoRest,
        /// <summary>SIZE says <see cref="Size"/>, but the transfer ends after a quarter of it.</summary>
        LyingSize,
        /// <summary>Both connections are reset in the middle of the transfer.</summary>
        DropMidTransfer,
        /// <summary>RETR is accepted, then no byte comes.</summary>
        Stall,
    }

    public const int Size = 1 << 20;

    private readonly Mode _mode;

    public MisbehavingFtpServer(Mode mode)
    {
        _mode = mode;
        Start();
    }

    public string Url => $"ftp://127.0.0.1:{Port}/disk.raw";

    protected override void Serve(TcpClient client)
    {
        using var _ = client;
        TcpListener? passive = null;
        try
        {
            var control = client.GetStream();
            var reader = new StreamReader(control, Encoding.ASCII);
            Send(control, _mode == Mode.Garbage ? "\u0001\u0002 garbage that is not FTP" : "220 misbehaving ftp");
            while (reader.ReadLine() is { } line)
            {
                string verb = line.Split(' ')[0].ToUpperInvariant();
                switch (verb)
                {
                    case "USER": Send(control, "331 password please"); break;
                    case "PASS": Send(control, "230 logged in"); break;
                    case "TYPE": Send(control, "200 binary"); break;
                    case "SIZE": Send(control, _mode == Mode.NoSize ? "502 SIZE not implemented" : $"213 {Size}"); break;
                    case "REST": Send(control, _mode == Mode.NoRest ? "502 REST not implemented" : "350 restarting"); break;
                    case "PASV":
                        passive?.Stop();
                        passive = new TcpListener(IPAddress.Loopback, 0);
                        passive.Start();
                        int port = ((IPEndPoint)passive.LocalEndpoint).Port;
                        Send(control, $"227 Entering Passive Mode (127,0,0,1,{port / 256},{port % 256})");
                        break;
                    case "RETR":
                        if (passive == null)
                        {
                            Send(control, "425 use PASV first");
                            break;
                        }
                        Retrieve(control, passive, client);
                        return;
                    case "QUIT":
                        Send(control, "221 bye");
                        return;
                    default: Send(control, "502 not implemented"); break;
                }
            }
        }
        catch (IOException) { }
        catch (SocketException) { }
        finally { passive?.Stop(); }
    }

    private void Retrieve(NetworkStream control, TcpListener passive, TcpClient client)
    {
        using var data = passive.AcceptTcpClient();
        Send(control, "150 opening data connection");
        var stream = data.GetStream();
        switch (_mode)
        {
            case Mode.Stall:
                StallUntilDisposed();
                return;
            case Mode.DropMidTransfer:
                stream.Write(new byte[Size / 4]);
                // A reset (RST), not an orderly close: the way a crashed server or a cut cable ends it.
                data.Client.LingerState = new LingerOption(true, 0);
                client.Client.LingerState = new LingerOption(true, 0);
                return;
            case Mode.LyingSize:
                stream.Write(new byte[Size / 4]);
                data.Close();
                Send(control, "226 transfer complete");
                StallUntilDisposed();
                return;
            default:
                stream.Write(new byte[Size]);
                data.Close();
                Send(control, "226 transfer complete");
                return;
        }
    }

    private static void Send(NetworkStream stream, string line) => stream.Write(Encoding.ASCII.GetBytes(line + "\r\n"));
}
